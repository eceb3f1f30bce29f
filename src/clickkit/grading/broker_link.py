"""The one path from a sandboxed kernel to its private broker, which the grader watches and controls.

It reads the Kafka protocol's frames (a 4-byte size, then the request header: api key, version, correlation id,
client id) and, for the few requests that matter to the grader, their body, so that the grader can:
- cut the path and restore it (Kafka unreachable, then back);
- hold back the broker's answers to produce requests (Kafka has not acknowledged yet);
- refuse requests that change the broker itself (deleting topics or records, changing configs or quotas), that
  make a 200 mean nothing (acks=0: no acknowledgement; transactions: records that may be aborted), or that would
  leave the broker unlike a fresh one (topics named like Kafka's own, too many topics, partitions or groups);
- bound what a submission costs the grader's process: connections, requests in flight, bytes buffered, and the
  bytes it may send per second.

One thread serves every connection (selectors, non-blocking sockets): a kernel that opens many connections, or
sends its frames slowly, costs the grader no thread and no more than BUFFER_BUDGET_BYTES of buffers.
"""

import errno
import os
import selectors
import socket
import struct
import threading
import time
from collections import deque
from pathlib import Path

from clickkit.grading.kafka_requests import (
    ADMIN_CLIENT_ID,
    ALLOWED_API_KEYS,
    MAX_PARTITIONS_PER_TOPIC,
    MAX_TOPICS,
    PRODUCE,
    Request,
    read_request,
)

MAX_FRAME_BYTES = 16 * 2**20  # above the broker's 1 MB record limit, with room for a batch
MAX_CONNECTIONS = 64  # open at once; a notebook's few clients take two or three each
BUFFER_BUDGET_BYTES = 64 * 2**20  # every frame being read, waiting or written, both ways, all connections
BACKLOG_BYTES = 2**20  # a side is not read while its peer still has more than this to write
MAX_IN_FLIGHT = 256  # requests passed on and not yet answered; a client pipelines five per connection
MAX_PARTITIONS = 512  # in every topic a submission may create: the next emptying deletes them in seconds
MAX_GROUPS = 100  # consumer groups a submission may create: the next emptying deletes each one
MAX_NOTES = 100  # different refusals kept: the instructor's log needs each kind once
CHUNK_BYTES = 256 * 2**10
COMMAND_WAIT_S = 10.0


class Way:
    """One direction of a connection: the frame being read from `source`, and the frames left to write to `sink`."""

    def __init__(self, source, sink):
        self.source, self.sink = source, sink
        self.frame = bytearray()  # the frame being read, its 4-byte size first
        self.size = None  # the frame's size, once its first 4 bytes are in
        self.reserved = 0  # budget taken for the frame being read
        self.queue = deque()  # [frame, is the answer to a produce request] left to write
        self.queued = 0  # bytes in queue
        self.sent = 0  # bytes of queue[0] already written

    def complete(self) -> bool:
        return self.size is not None and len(self.frame) == self.size + 4


class Connection:
    """A kernel's connection and the link's own to the broker, with the requests awaiting their answers."""

    def __init__(self, client, upstream, connecting: bool):
        self.client, self.upstream, self.connecting = client, upstream, connecting
        self.requests, self.answers = Way(client, upstream), Way(upstream, client)
        self.expected = deque()  # (correlation id, is a produce request), in the order Kafka answers them
        self.reserved = 0  # budget taken by this connection's frames, both ways
        self.events = {client: 0, upstream: 0}  # what the selector watches on each socket
        self.closed = False


class BrokerLink:
    """Listen on a Unix socket; forward each connection to the broker, frame by frame, under the grader's rules."""

    def __init__(self, path: Path, broker: tuple, bytes_per_s: float = 2**20, burst_bytes: float = 4 * 2**20):
        self.path, self.broker = Path(path), broker
        self.bytes_per_s, self.burst_bytes = bytes_per_s, burst_bytes
        self.refused = []  # why requests were refused, each reason once ("api key N", "produce with acks=0", ...)
        self.produce_requests = 0  # produce requests passed on since the last hold()
        self._lock = threading.Condition()
        self._holding = False
        self._commands = deque()
        self._thread = self._selector = self._waker = self._listener = self._address = None
        self._listening = False
        self._connections = set()
        self._buffered = 0  # bytes of budget taken, all connections
        self._in_flight = 0
        self._tokens, self._refilled, self._paced_until = burst_bytes, time.monotonic(), 0.0
        self._topics, self._groups = {}, set()  # what this submission has created, or may have

    @property
    def buffered_bytes(self) -> int:
        """Bytes of frames the link holds now (being read, waiting, being written), reserved in whole frames."""
        return self._buffered

    @property
    def connections(self) -> int:
        return len(self._connections)

    def open(self) -> "BrokerLink":
        """Start (or resume) forwarding to the broker."""
        with self._lock:
            if self._listening:
                return self
            self._listening = True
        try:
            if self._address is None:
                self._address = resolve(*self.broker)
            self.path.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.path))
            os.chmod(self.path, 0o666)  # the sandbox's user connects; only its folder's mount shows this socket
            listener.listen(MAX_CONNECTIONS)
            listener.setblocking(False)
        except BaseException:
            self._listening = False
            raise
        if self._thread is None:
            self._selector = selectors.DefaultSelector()
            self._waker = socket.socketpair()
            for end in self._waker:
                end.setblocking(False)
            self._selector.register(self._waker[0], selectors.EVENT_READ, "waker")
            self._thread = threading.Thread(target=self._run, name="broker-link", daemon=True)
            self._thread.start()
        self._call(self._listen, listener)
        return self

    def cut(self) -> "BrokerLink":
        """Refuse new connections and cut every open one: to the kernel, Kafka is unreachable."""
        if self._thread is not None:
            self._call(self._cut, wait=True)
        self._listening = False
        return self

    def close(self) -> None:
        """Cut the link and end its thread."""
        if self._thread is not None:
            self.cut()
            self._call(self._stop, wait=True)
            self._thread.join(timeout=COMMAND_WAIT_S)
            self._thread = self._waker = None

    def hold(self) -> None:
        """Hold back every answer to a produce request until release()."""
        with self._lock:
            self._holding, self.produce_requests = True, 0

    def release(self) -> None:
        """Let the held answers through."""
        with self._lock:
            self._holding = False
        self._wake()

    def wait_for_produce(self, timeout_s: float) -> bool:
        """Wait until a produce request has passed since hold(); tell whether one did."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not self.produce_requests and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.01, deadline - time.monotonic()))
            return bool(self.produce_requests)

    # What follows runs in the link's thread, but for _call and _wake.

    def _call(self, command, *args, wait: bool = False) -> None:
        """Have the link's thread run command(*args); wait until it has, if told."""
        done = threading.Event()
        with self._lock:
            self._commands.append((command, args, done))
        self._wake()
        if wait:
            done.wait(timeout=COMMAND_WAIT_S)

    def _wake(self) -> None:
        if self._waker is not None:
            try:
                self._waker[1].send(b"\0")
            except OSError:
                pass  # full (a wake-up is already pending) or closed (the link has stopped)

    def _run(self) -> None:
        while True:
            for connection in list(self._connections):
                self._guarded(connection, self._advance, connection)
            for connection in list(self._connections):
                self._watch(connection)
            wait_s = self._paced_until - time.monotonic()
            for key, mask in self._selector.select(wait_s if wait_s > 0 else None):
                if key.data == "waker":
                    if not self._run_commands():
                        return
                elif key.data == "listener":
                    self._accept(key.fileobj)
                else:
                    connection, is_client = key.data
                    self._guarded(connection, self._ready, connection, is_client, mask)

    def _run_commands(self) -> bool:
        """Run what other threads asked for; tell whether the link goes on."""
        try:
            while self._waker[0].recv(4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            commands, self._commands = self._commands, deque()
        for command, args, done in commands:
            going_on = command(*args) is not False
            done.set()
            if not going_on:
                return False
        return True

    def _listen(self, listener) -> None:
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "listener")

    def _cut(self) -> None:
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
            self.path.unlink(missing_ok=True)
        for connection in list(self._connections):
            self._close(connection)

    def _stop(self) -> bool:
        self._selector.close()
        for end in self._waker:
            end.close()
        return False

    def _accept(self, listener) -> None:
        for _ in range(MAX_CONNECTIONS):  # then the others get their turn, and the backlog waits
            try:
                client, _ = listener.accept()
            except OSError:
                return  # none left to accept
            if len(self._connections) >= MAX_CONNECTIONS:
                self._note(f"over {MAX_CONNECTIONS} connections at once")
                close(client)
                continue
            family, address = self._address
            upstream = socket.socket(family, socket.SOCK_STREAM)
            for sock in (client, upstream):
                sock.setblocking(False)
            status = upstream.connect_ex(address)
            if status not in (0, errno.EINPROGRESS):
                close(client), close(upstream)  # the broker is down: to the kernel, so is the path
                continue
            self._connections.add(Connection(client, upstream, connecting=status != 0))

    def _guarded(self, connection: Connection, step, *args) -> None:
        """Run one step of a connection; close the connection when it fails or breaks the protocol."""
        if connection.closed:
            return
        try:
            step(*args)
        except (OSError, ValueError, EOFError):
            self._close(connection)

    def _ready(self, connection: Connection, is_client: bool, mask: int) -> None:
        """Read and write what a socket is ready for."""
        if is_client:
            reading, writing = connection.requests, connection.answers
        else:
            reading, writing = connection.answers, connection.requests
            if connection.connecting and mask & selectors.EVENT_WRITE:
                failure = connection.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if failure:
                    raise OSError(failure, os.strerror(failure))
                connection.connecting = False
        if mask & selectors.EVENT_READ:
            self._read(connection, reading)
        if mask & selectors.EVENT_WRITE and not connection.connecting:
            self._write(connection, writing)

    def _read(self, connection: Connection, way: Way) -> None:
        """Read the frame under way, no further than its end, while its bytes come and the budget has room."""
        while not way.complete() and (way.size is None or self._reserve(connection, way)):
            left = 4 - len(way.frame) if way.size is None else way.size + 4 - len(way.frame)
            try:
                data = way.source.recv(min(left, CHUNK_BYTES))
            except BlockingIOError:
                return
            if not data:
                raise EOFError("the other side closed")
            way.frame += data
            if way.size is None and len(way.frame) == 4:
                size = struct.unpack(">i", way.frame)[0]
                if not 8 <= size <= MAX_FRAME_BYTES:
                    raise ValueError(f"a frame of {size} bytes")
                way.size = size

    def _reserve(self, connection: Connection, way: Way) -> bool:
        """Take budget for the whole frame being read, once; tell whether it is taken."""
        if not way.reserved:
            if self._buffered + way.size + 4 > BUFFER_BUDGET_BYTES:
                return False
            way.reserved = way.size + 4
            self._buffered += way.reserved
            connection.reserved += way.reserved
        return True

    def _advance(self, connection: Connection) -> None:
        """Pass a whole request on to the broker (or refuse it), and a whole answer back to the kernel's queue."""
        requests, answers = connection.requests, connection.answers
        if requests.complete() and time.monotonic() >= self._paced_until and self._in_flight < MAX_IN_FLIGHT:
            frame = take(requests)
            self._pace(len(frame))
            try:
                request = read_request(frame)
                reason = self._refusal(request)
            except ValueError:
                reason = f"a malformed request (api key {struct.unpack_from('>h', frame, 4)[0]})"
            if reason:
                self._note(reason)
                raise EOFError(reason)
            connection.expected.append((request.correlation, request.api_key == PRODUCE))
            self._in_flight += 1
            if request.api_key == PRODUCE:
                with self._lock:
                    self.produce_requests += 1
                    self._lock.notify_all()
            requests.queue.append([frame, False])
            requests.queued += len(frame)
        if answers.complete():
            frame = take(answers)
            correlation = struct.unpack_from(">i", frame, 4)[0]
            if not connection.expected or connection.expected[0][0] != correlation:
                raise ValueError(f"an answer to no request: correlation id {correlation}")
            produce = connection.expected.popleft()[1]
            self._in_flight -= 1
            answers.queue.append([frame, produce])
            answers.queued += len(frame)

    def _refusal(self, request: Request) -> str | None:
        """Tell why the request is refused, or None; count what an allowed one may create."""
        key = request.api_key
        if key not in ALLOWED_API_KEYS:
            return f"api key {key}"
        if request.transactional_id is not None:
            return "transactional produce" if key == PRODUCE else "transactional producer id"
        if key == PRODUCE and request.acks == 0:
            return "produce with acks=0"  # Kafka answers nothing: no acknowledgement to wait for
        if key == PRODUCE and request.client_id == ADMIN_CLIENT_ID:
            return f"produce as {ADMIN_CLIENT_ID}"
        if request.coordinator_type:
            return f"find coordinator of key type {request.coordinator_type}"  # it creates Kafka's own topics
        if request.named > MAX_TOPICS:
            return f"a request naming {request.named} topics"
        for name, partitions in request.new_topics.items():
            if name.startswith("__"):
                return f"create topic {name[:60]}"  # Kafka's own are named so: emptying spares them
            if partitions > MAX_PARTITIONS_PER_TOPIC:
                return f"a topic of {partitions} partitions"
        created = dict(self._topics)
        for name, partitions in request.new_topics.items():
            created[name] = max(partitions, created.get(name, 0))
        if len(created) > MAX_TOPICS:
            return f"over {MAX_TOPICS} topics"
        if sum(created.values()) > MAX_PARTITIONS:
            return f"over {MAX_PARTITIONS} partitions"
        groups = (self._groups | {request.group}) if request.group is not None else self._groups
        if len(groups) > MAX_GROUPS:
            return f"over {MAX_GROUPS} consumer groups"
        self._topics, self._groups = created, groups
        return None

    def _pace(self, size: int) -> None:
        """Spend size bytes of a token bucket (bytes_per_s, burst_bytes deep); in debt, read no request until repaid."""
        now = time.monotonic()
        self._tokens = min(self.burst_bytes, self._tokens + (now - self._refilled) * self.bytes_per_s)
        self._refilled = now
        self._tokens -= size
        if self._tokens < 0:
            self._paced_until = now - self._tokens / self.bytes_per_s

    def _held(self, way: Way) -> bool:
        """Tell whether the next frame to write is an answer to a produce request that the grader holds back."""
        return bool(way.queue) and way.queue[0][1] and self._holding and not way.sent

    def _write(self, connection: Connection, way: Way) -> None:
        """Write the frames waiting under way until the socket is full or a held answer is next."""
        while way.queue and not self._held(way):
            frame = way.queue[0][0]
            try:
                way.sent += way.sink.send(memoryview(frame)[way.sent :])
            except BlockingIOError:
                return
            if way.sent < len(frame):
                return
            way.queue.popleft()
            way.queued -= len(frame)
            way.sent = 0
            self._buffered -= len(frame)
            connection.reserved -= len(frame)

    def _watch(self, connection: Connection) -> None:
        """Tell the selector what each of the connection's sockets waits for now."""
        if connection.closed:
            return
        requests, answers = connection.requests, connection.answers
        paced = time.monotonic() < self._paced_until or self._in_flight >= MAX_IN_FLIGHT
        wanted = {
            connection.client: (self._readable(connection, requests) and not paced, answers),
            connection.upstream: (not connection.connecting and self._readable(connection, answers), requests),
        }
        for sock, (reading, writing) in wanted.items():
            events = selectors.EVENT_READ if reading else 0
            if (writing.queue and not self._held(writing)) or (sock is connection.upstream and connection.connecting):
                events |= selectors.EVENT_WRITE
            if events != connection.events[sock]:
                if not connection.events[sock]:
                    self._selector.register(sock, events, (connection, sock is connection.client))
                elif not events:
                    self._selector.unregister(sock)
                else:
                    self._selector.modify(sock, events, (connection, sock is connection.client))
                connection.events[sock] = events

    def _readable(self, connection: Connection, way: Way) -> bool:
        """Tell whether to read more of way: its frame is not whole, the budget has room, its peer keeps up."""
        if way.complete() or (way.size is not None and not self._reserve(connection, way)):
            return False
        return way.queued < BACKLOG_BYTES

    def _close(self, connection: Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        for sock, events in connection.events.items():
            if events:
                self._selector.unregister(sock)
            close(sock)
        self._buffered -= connection.reserved
        self._in_flight -= len(connection.expected)
        self._connections.discard(connection)

    def _note(self, reason: str) -> None:
        if reason not in self.refused and len(self.refused) < MAX_NOTES:
            self.refused.append(reason)


def take(way: Way) -> bytearray:
    """Return way's whole frame and start a new one; its budget goes with it until it is written."""
    frame, way.frame, way.size, way.reserved = way.frame, bytearray(), None, 0
    return frame


def resolve(host: str, port: int) -> tuple:
    """Return (family, address) of the broker, IPv4 first: local brokers listen on 127.0.0.1."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, address = sorted(found, key=lambda entry: entry[0] != socket.AF_INET)[0]
    return family, address


def close(sock) -> None:
    """Shut a socket down both ways and close it, whatever state it is in."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
