"""Find free TCP ports on the loopback interface, for brokers and servers started by the kit."""

import socket


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something accepts TCP connections on the port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """Return a port that is free right now (another program may still take it before you bind it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """Return a free port whose neighbour is free too: a local broker's controller listens on port + 1."""
    for _ in range(50):
        port = free_port()
        if port < 65000 and not port_is_open(port + 1):
            return port
    raise RuntimeError("No free pair of ports on 127.0.0.1: stop some servers and try again.")
