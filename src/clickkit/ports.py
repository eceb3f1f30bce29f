"""Find free TCP ports on the loopback interface, for brokers and servers started by the kit."""

import random
import socket

from clickkit.errors import KitError


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether something accepts TCP connections on the port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def any_accepts(bootstrap_servers: str, timeout_s: float = 3.0) -> bool:
    """Tell whether any host:port of a comma-separated list accepts TCP connections (a name that cannot resolve: no)."""
    for address in bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
            return True
        except (OSError, ValueError):
            continue
    return False


def free_port() -> int:
    """Return a port that is free right now (another program may still take it before you bind it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair() -> int:
    """Return a free port whose neighbour is free too: a local broker's controller listens on port + 1."""
    # Below Linux's ephemeral range (32768-60999), so that no client's outgoing connection can take the
    # port while the broker is down, and a client retrying a dead port cannot end up connected to itself.
    for _ in range(200):
        port = random.randrange(20000, 32000)
        if can_bind(port) and can_bind(port + 1):
            return port
    raise KitError("No free pair of ports on 127.0.0.1: stop some servers and try again.")


def free_node_ports(count: int) -> list:
    """Return ports for `count` local brokers: each free with a free neighbour, none next to another's pair."""
    ports = []
    while len(ports) < count:
        port = free_port_pair()
        if all(abs(port - other) > 1 for other in ports):
            ports.append(port)
    return ports


def can_bind(port: int) -> bool:
    """Tell whether a server could listen on the port right now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


# The processes through which Docker Engine and Docker Desktop publish a container's port.
DOCKER_PROXIES = {"docker-proxy", "com.docker.backend", "vpnkit", "rootlessport", "wslrelay.exe"}


def port_owner(port: int) -> str:
    """Describe the program listening on a TCP port, as well as this user may see it."""
    try:
        import psutil  # imported here: make doctor must work before the kit's dependencies are installed

        pids = {
            conn.pid
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        }
    except Exception:  # psutil missing, or macOS refusing to list other programs' sockets
        pids = set()
    for pid in sorted(pid for pid in pids if pid):
        try:
            process = psutil.Process(pid)
            name, command = process.name(), process.cmdline()
        except Exception:  # it ended meanwhile, or belongs to another user
            continue
        if "kafka.Kafka" in command:
            return f"a Kafka broker ({name}, pid {pid})"
        if name in DOCKER_PROXIES:
            return f"Docker ({name}, pid {pid}): a container publishes it, see docker ps --filter publish={port}"
        return f"{name} (pid {pid}: {' '.join(command)[:100]})"
    return f"a program this user cannot see (find it with: sudo lsof -iTCP:{port} -sTCP:LISTEN)"
