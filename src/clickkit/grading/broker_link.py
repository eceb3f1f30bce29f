"""The one path from a sandboxed kernel to its private broker, which the grader watches and controls.

It reads the Kafka protocol's frames (a 4-byte size, then the request header: api key, version, correlation id),
so that the grader can:
- cut the path and restore it (Kafka unreachable, then back);
- hold back the broker's answers to produce requests (Kafka has not acknowledged yet);
- refuse requests that change the broker itself (deleting topics or records, changing configs or quotas);
- cap the bytes a submission may send per second.
"""

import os
import socket
import struct
import threading
import time
from pathlib import Path

PRODUCE = 0
# What a notebook's clients need: produce, fetch, offsets, metadata, consumer groups, topic creation, configs
# read-only, cluster description, idempotent producers. Everything else (DeleteTopics 20, DeleteRecords 21,
# AlterConfigs 33, CreatePartitions 37, DeleteGroups 42, AlterClientQuotas 49, ...) is refused.
ALLOWED_API_KEYS = frozenset({0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 22, 32, 60})
MAX_FRAME_BYTES = 16 * 2**20  # above the broker's 1 MB record limit, with room for a batch


class BrokerLink:
    """Listen on a Unix socket; forward each connection to the broker, frame by frame, under the grader's rules."""

    def __init__(self, path: Path, broker: tuple, bytes_per_s: float = 2**20, burst_bytes: float = 4 * 2**20):
        self.path, self.broker = Path(path), broker
        self.bytes_per_s, self.burst_bytes = bytes_per_s, burst_bytes
        self.refused = []           # "api key N" for each request refused
        self.produce_requests = 0   # produce requests seen since the last hold()
        self._tokens, self._refilled = burst_bytes, time.monotonic()
        self._listener, self._links = None, []
        self._lock = threading.Condition()
        self._holding = False

    def open(self) -> "BrokerLink":
        """Start (or resume) forwarding to the broker."""
        if self._listener is None:
            self.path.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.path))
            os.chmod(self.path, 0o666)  # the sandbox's user connects; only its folder's mount shows this socket
            listener.listen(64)
            self._listener = listener
            threading.Thread(target=self._accept, args=(listener,), name="broker-link", daemon=True).start()
        return self

    def cut(self) -> "BrokerLink":
        """Refuse new connections and cut every open one: to the kernel, Kafka is unreachable."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            self.path.unlink(missing_ok=True)
        with self._lock:
            links, self._links = self._links, []
            self._lock.notify_all()
        for sock in links:
            close(sock)
        return self

    def hold(self) -> None:
        """Hold back every answer to a produce request until release()."""
        with self._lock:
            self._holding, self.produce_requests = True, 0

    def release(self) -> None:
        """Let the held answers through."""
        with self._lock:
            self._holding = False
            self._lock.notify_all()

    def wait_for_produce(self, timeout_s: float) -> bool:
        """Wait until a produce request has passed since hold(); tell whether one did."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not self.produce_requests and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.01, deadline - time.monotonic()))
            return bool(self.produce_requests)

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.broker, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            produce_ids = set()
            with self._lock:
                if self._listener is not listener:
                    close(client), close(upstream)
                    return
                self._links += [client, upstream]
            threading.Thread(target=self._requests, args=(client, upstream, produce_ids), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client, produce_ids), daemon=True).start()

    def _requests(self, client, upstream, produce_ids: set) -> None:
        """Pass the kernel's requests on, refusing those not allowed and pacing the bytes."""
        try:
            while frame := read_frame(client):
                api_key, _, correlation = struct.unpack(">hhi", frame[4:12])
                if api_key not in ALLOWED_API_KEYS:
                    self.refused.append(f"api key {api_key}")
                    break
                if api_key == PRODUCE:
                    with self._lock:
                        produce_ids.add(correlation)
                        self.produce_requests += 1
                        self._lock.notify_all()
                self._pace(len(frame))
                upstream.sendall(frame)
        except (OSError, ValueError):
            pass
        finally:
            close(client), close(upstream)

    def _answers(self, upstream, client, produce_ids: set) -> None:
        """Pass the broker's answers back, holding produce answers while the grader holds them."""
        try:
            while frame := read_frame(upstream):
                correlation = struct.unpack(">i", frame[4:8])[0]
                with self._lock:
                    if correlation in produce_ids:
                        produce_ids.discard(correlation)
                        while self._holding and client in self._links:
                            self._lock.wait(timeout=1.0)
                client.sendall(frame)
        except (OSError, ValueError):
            pass
        finally:
            close(client), close(upstream)

    def _pace(self, size: int) -> None:
        """Sleep as long as a token bucket of bytes_per_s, burst_bytes deep, requires."""
        now = time.monotonic()
        self._tokens = min(self.burst_bytes, self._tokens + (now - self._refilled) * self.bytes_per_s)
        self._refilled = now
        self._tokens -= size
        if self._tokens < 0:
            time.sleep(-self._tokens / self.bytes_per_s)


def read_frame(sock) -> bytes:
    """Return one whole frame (its size prefix included), or b"" when the other side closed."""
    head = read_exactly(sock, 4)
    if not head:
        return b""
    size = struct.unpack(">i", head)[0]
    if not 8 <= size <= MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {size} bytes")
    body = read_exactly(sock, size)
    if len(body) < size:
        return b""
    return head + body


def read_exactly(sock, size: int) -> bytes:
    """Return size bytes, or fewer when the other side closed first."""
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def close(sock) -> None:
    """Shut a socket down both ways and close it, whatever state it is in."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
