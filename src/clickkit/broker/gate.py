"""A broker address that can be cut and restored: a TCP forwarder to the real broker's bootstrap port.

A client bootstraps through the gate, then talks to the broker's advertised address directly. So a closed
gate is a broker unreachable at start-up (connection refused), and opening it again is Kafka coming back.
"""

import socket
import threading

from clickkit.ports import free_port_pair


class KafkaGate:
    """Forward 127.0.0.1:port to the broker while open; refuse every connection while closed."""

    def __init__(self, bootstrap_servers: str, is_open: bool = False):
        host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
        self.target = (host.strip("[]") or "127.0.0.1", int(port))
        # Below the ephemeral range: a client retrying a closed gate cannot end up connected to itself.
        self.port = free_port_pair()
        self._listener = None
        self._links = []
        self._lock = threading.Lock()
        if is_open:
            self.open()

    @property
    def address(self) -> str:
        """Return the bootstrap address to give a client."""
        return f"127.0.0.1:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._listener is not None

    def open(self) -> "KafkaGate":
        """Start forwarding to the broker."""
        if self._listener is None:
            listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
            listener.settimeout(0.2)
            self._listener = listener
            threading.Thread(target=self._accept, args=(listener,), name="kafka-gate", daemon=True).start()
        return self

    def close(self) -> "KafkaGate":
        """Refuse new connections and cut the ones forwarded so far."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            links, self._links = self._links, []
        for sock in links:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the other side
            sock.close()
        return self

    def _accept(self, listener) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._links += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()


def pump(source, sink) -> None:
    """Copy bytes one way until either side closes, then shut both down."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass  # the gate was closed, or a side went away
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
