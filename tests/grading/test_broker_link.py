"""The broker link: what it reads of each request, what it refuses, and what it may cost the grader's process.

Real kafka-python clients reach the link as a sandboxed kernel's do: every connection they open, whatever broker
address it names, goes to the link's Unix socket (here through an HTTP CONNECT proxy, as the bridge does inside the
sandbox), and from there to the session's broker.
"""

import contextlib
import shutil
import socket
import struct
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from kafka.protocol.admin import CreateTopicsRequest
from kafka.protocol.consumer import JoinGroupRequest, OffsetCommitRequest
from kafka.protocol.metadata import FindCoordinatorRequest, MetadataRequest
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest

from clickkit.broker import topics
from clickkit.broker.gate import pump
from clickkit.grading import broker_link
from clickkit.grading.broker_link import BrokerLink
from clickkit.grading.kafka_requests import DEFAULT_PARTITIONS, read_request

WAIT_S = 30.0  # a bound on waits for what must happen: never reached unless the link is wrong


def encode(request, version: int, client_id: str = "kit-test", correlation: int = 7) -> bytes:
    """Return a whole frame of the request at that version, as kafka-python sends it."""
    request.API_VERSION = version
    request.with_header(correlation_id=correlation, client_id=client_id)
    return bytes(request.encode(header=True, framed=True))


def versions(message) -> range:
    return range(message.min_version, message.max_version + 1)


def create_topics(*topics_: tuple) -> CreateTopicsRequest:
    """Return a CreateTopics request for (name, partitions, assigned partitions) each."""
    topic, assignment = (
        CreateTopicsRequest.CreatableTopic,
        CreateTopicsRequest.CreatableTopic.CreatableReplicaAssignment,
    )
    return CreateTopicsRequest(
        topics=[
            topic(
                name=name,
                num_partitions=partitions,
                replication_factor=-1,
                assignments=[assignment(partition_index=index, broker_ids=[1]) for index in range(assigned)],
                configs=[topic.CreatableTopicConfig(name="retention.ms", value="60000")],
            )
            for name, partitions, assigned in topics_
        ],
        timeout_ms=5000,
        validate_only=False,
    )


def metadata(*names: str, auto_create: bool = True) -> MetadataRequest:
    topic = MetadataRequest.MetadataRequestTopic
    return MetadataRequest(
        topics=[topic(name=name, topic_id=uuid.uuid4()) for name in names], allow_auto_topic_creation=auto_create
    )


# What the link reads of each request it looks into, at every version kafka-python can send.


@pytest.mark.parametrize("version", versions(ProduceRequest))
def test_a_produce_request_is_read_for_its_acks_and_transaction_at_every_version(version):
    for transactional_id in (None, "tx-1"):
        for acks in (-1, 0, 1):
            request = ProduceRequest(transactional_id=transactional_id, acks=acks, timeout_ms=500, topic_data=[])
            read = read_request(encode(request, version, client_id="kit-test", correlation=41))
            assert (read.api_key, read.version, read.correlation, read.client_id) == (0, version, 41, "kit-test")
            assert read.acks == acks
            assert read.transactional_id == (transactional_id if version >= 3 else None)  # none before v3


@pytest.mark.parametrize("version", versions(CreateTopicsRequest))
def test_a_create_topics_request_is_read_for_its_names_and_partitions_at_every_version(version):
    read = read_request(encode(create_topics(("a", 3, 0), ("__b", -1, 2), ("c", -1, 0)), version))
    assert read.named == 3
    assert read.new_topics == {"a": 3, "__b": 2, "c": DEFAULT_PARTITIONS}  # assigned, or the default


@pytest.mark.parametrize("version", versions(MetadataRequest))
def test_a_metadata_request_names_topics_kafka_would_create_only_when_it_allows_that(version):
    assert read_request(encode(metadata("x", "__y"), version)).new_topics == {"x": 1, "__y": 1}
    # Before v4 a metadata request always let Kafka create the topics it names.
    expected = {"x": 1} if version < 4 else {}
    assert read_request(encode(metadata("x", auto_create=False), version)).new_topics == expected
    if version >= 1:  # every topic: none named
        assert read_request(encode(MetadataRequest(topics=None), version)).new_topics == {}


def test_transactions_and_groups_are_read_from_every_version_of_their_requests():
    for version in versions(InitProducerIdRequest):
        request = InitProducerIdRequest(transactional_id="tx-1", transaction_timeout_ms=500)
        assert read_request(encode(request, version)).transactional_id == "tx-1"
        request = InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=500)
        assert read_request(encode(request, version)).transactional_id is None
    for version in versions(FindCoordinatorRequest):
        for key_type in (0, 1) if version else (0,):
            request = FindCoordinatorRequest(key="tx-1", key_type=key_type, coordinator_keys=["tx-1"])
            assert read_request(encode(request, version)).coordinator_type == key_type
    for message in (OffsetCommitRequest, JoinGroupRequest):
        for version in versions(message):
            assert read_request(encode(message(group_id="readers"), version)).group == "readers"


def test_a_truncated_request_is_malformed():
    frame = encode(ProduceRequest(transactional_id="tx-1", acks=-1, timeout_ms=500, topic_data=[]), 9)
    with pytest.raises(ValueError):
        read_request(frame[:16])


# The link itself, against a stand-in broker that accepts connections and answers nothing.


@pytest.fixture
def folder():
    """Yield a short folder for the link's socket: a Unix socket's path may not exceed 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="kit-link-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def silent_broker():
    """Yield the address of a listener that never reads: requests passed on to it stay unanswered."""
    with socket.create_server(("127.0.0.1", 0), backlog=512) as listener:
        yield listener.getsockname()


@contextlib.contextmanager
def running(link: BrokerLink):
    try:
        yield link.open()
    finally:
        link.close()


def connect(path: Path) -> socket.socket:
    """Connect to the link, waiting while its backlog is full (WAIT_S at most)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(str(path))
        except BlockingIOError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        except OSError:
            sock.close()
            raise
        sock.settimeout(WAIT_S)
        return sock


def closed_by_link(sock: socket.socket) -> bool:
    """Wait (WAIT_S at most) for the link to close the connection; tell whether it did."""
    sock.settimeout(WAIT_S)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_until(condition, timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


REFUSED = {
    "produce with acks=0": encode(ProduceRequest(transactional_id=None, acks=0, timeout_ms=500, topic_data=[]), 9),
    "transactional produce": encode(ProduceRequest(transactional_id="t", acks=-1, timeout_ms=500, topic_data=[]), 3),
    "transactional producer id": encode(InitProducerIdRequest(transactional_id="t", transaction_timeout_ms=500), 4),
    "find coordinator of key type 1": encode(FindCoordinatorRequest(key_type=1, coordinator_keys=["t"]), 4),
    "produce as __admin_client": encode(
        ProduceRequest(transactional_id=None, acks=-1, timeout_ms=500, topic_data=[]), 11, client_id="__admin_client"
    ),
    "create topic __consumer_offsets": encode(create_topics(("__consumer_offsets", 1, 0)), 7),
    "create topic __x": encode(create_topics(("__x", 1, 0)), 4),
    "a topic of 10000 partitions": encode(create_topics(("wide", 10_000, 0)), 7),
    "create topic __persist": encode(metadata("__persist"), 12),  # Kafka would create it
    "a request naming 101 topics": encode(create_topics(*((f"t{n}", 1, 0) for n in range(101))), 5),
    "api key 20": struct.pack(">ihhi", 8, 20, 6, 7),  # DeleteTopics
    "a malformed request (api key 19)": encode(create_topics(("a", 1, 0)), 7)[:20],
}


@pytest.mark.parametrize("reason", REFUSED)
def test_a_request_that_would_change_the_broker_or_fake_an_acknowledgement_is_refused(reason, folder, silent_broker):
    frame = REFUSED[reason]
    frame = struct.pack(">i", len(frame) - 4) + frame[4:]  # the truncated one says its own size
    with running(BrokerLink(folder / "kafka.sock", silent_broker)) as link, connect(link.path) as sock:
        sock.sendall(frame)
        assert closed_by_link(sock)
        assert link.refused == [reason]
        assert wait_until(lambda: link.connections == 0)


def test_a_submission_may_create_only_so_many_topics_and_groups(folder, silent_broker):
    with running(BrokerLink(folder / "kafka.sock", silent_broker)) as link:
        with connect(link.path) as sock:
            for n in range(broker_link.MAX_TOPICS // 10):  # ten names a request, all allowed
                sock.sendall(encode(metadata(*(f"topic-{n}-{k}" for k in range(10))), 12, correlation=n))
            sock.sendall(encode(create_topics(("one-more", 1, 0)), 7, correlation=99))
            assert closed_by_link(sock)
        with connect(link.path) as sock:
            for n in range(broker_link.MAX_GROUPS + 1):
                sock.sendall(encode(OffsetCommitRequest(group_id=f"group-{n}"), 8, correlation=n))
            assert closed_by_link(sock)
        assert link.refused == [
            f"over {broker_link.MAX_TOPICS} topics",
            f"over {broker_link.MAX_GROUPS} consumer groups",
        ]


def test_partitions_count_across_a_submissions_topics(folder, silent_broker):
    wide = broker_link.MAX_PARTITIONS_PER_TOPIC
    with running(BrokerLink(folder / "kafka.sock", silent_broker)) as link, connect(link.path) as sock:
        for n in range(broker_link.MAX_PARTITIONS // wide):
            sock.sendall(encode(create_topics((f"wide-{n}", wide, 0)), 7, correlation=n))
        sock.sendall(encode(create_topics(("wide-0", wide, 0)), 7, correlation=98))  # the same topic: no more
        sock.sendall(encode(create_topics(("one-more", 1, 0)), 7, correlation=99))
        assert closed_by_link(sock)
        assert link.refused == [f"over {broker_link.MAX_PARTITIONS} partitions"]


def test_slow_partial_frames_on_many_connections_cost_no_thread_and_bounded_memory(folder, silent_broker):
    """A kernel opens 300 connections and sends each a 16 MiB frame that it never finishes."""
    process = psutil.Process()
    with running(BrokerLink(folder / "kafka.sock", silent_broker)) as link:
        threads, native_threads, rss = threading.active_count(), process.num_threads(), process.memory_info().rss
        head = struct.pack(">ihhi", broker_link.MAX_FRAME_BYTES, 0, 9, 1)
        chunk, socks, buffered = bytes(2**20), [], []
        try:
            for _ in range(300):
                socks.append(connect(link.path))
            for sock in socks:
                with contextlib.suppress(OSError):  # refused at once: closed already
                    sock.sendall(head)
                sock.setblocking(False)
            sent = dict.fromkeys(socks, len(head))
            for _ in range(40):  # as much of each frame as the link takes in, all but its last byte
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sent[sock] += sock.send(chunk[: broker_link.MAX_FRAME_BYTES + 4 - 1 - sent[sock]])
                buffered.append(link.buffered_bytes)
                time.sleep(0.05)
            grown = process.memory_info().rss - rss
            extra = len(socks) - broker_link.MAX_CONNECTIONS
            assert wait_until(lambda: sum(map(closed_now, socks)) == extra)  # accepted, then closed at once
            assert link.connections == broker_link.MAX_CONNECTIONS
            assert threading.active_count() <= threads and process.num_threads() <= native_threads
            assert 0 < max(buffered) <= broker_link.BUFFER_BUDGET_BYTES
            assert grown < broker_link.BUFFER_BUDGET_BYTES + 64 * 2**20, f"the process grew by {grown} bytes"
            cpu = sum(process.cpu_times()[:2])
            time.sleep(2.0)
            assert sum(process.cpu_times()[:2]) - cpu < 0.5, "the link's loop spins while it waits"
            print(
                f"300 connections: {link.connections} open, {threading.active_count() - threads} more threads, "
                f"{max(buffered)} bytes buffered at most, rss +{grown // 2**20} MiB"
            )
        finally:
            for sock in socks:
                sock.close()
        assert wait_until(lambda: link.connections == 0 and link.buffered_bytes == 0)


def closed_now(sock: socket.socket) -> bool:
    """Tell whether the link has closed a non-blocking connection."""
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_the_link_paces_what_a_kernel_sends(folder):
    """A link of 256 KiB/s after a 256 KiB burst takes three seconds at least for five frames of 256 KiB."""
    received = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def broker():
            upstream, _ = listener.accept()
            with upstream:
                while data := upstream.recv(2**20):
                    received.append(len(data))

        thread = threading.Thread(target=broker, daemon=True)
        thread.start()
        size = 256 * 2**10
        frame = struct.pack(">ihhi", size - 4, 18, 0, 1) + bytes(size - 12)  # ApiVersions: no body is read
        link = BrokerLink(folder / "kafka.sock", listener.getsockname(), bytes_per_s=size, burst_bytes=size)
        with running(link), connect(link.path) as sock:
            started = time.monotonic()
            for _ in range(5):
                sock.sendall(frame)
            assert wait_until(lambda: sum(received) == 5 * size)
            elapsed = time.monotonic() - started
        thread.join(timeout=WAIT_S)
    assert elapsed >= 2.5, f"five frames passed in {elapsed:.1f} s"


# Real clients, through the link, to the session's broker.


@pytest.fixture
def link(folder, bootstrap_servers):
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    with running(BrokerLink(folder / "kafka.sock", (host, int(port)))) as link:
        yield link


@pytest.fixture
def proxy_url(link):
    """Yield an HTTP CONNECT proxy's URL that joins every connection to the link, whatever broker it names."""
    listener = socket.create_server(("127.0.0.1", 0))

    def tunnel(client):
        request = b""
        while b"\r\n\r\n" not in request:
            if not (data := client.recv(4096)):
                return client.close()
            request += data
        try:
            upstream = connect(link.path)
        except OSError:  # cut: as inside the sandbox, the kernel's connection is refused
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return client.close()
        upstream.settimeout(None)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    def serve():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=tunnel, args=(client,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def producer(bootstrap_servers: str, proxy_url: str, **settings) -> KafkaProducer:
    bounded = {"request_timeout_ms": 10000, "max_block_ms": 10000}
    return KafkaProducer(bootstrap_servers=bootstrap_servers, proxy_url=proxy_url, **{**bounded, **settings})


def values(bootstrap_servers: str, topic: str) -> list:
    return topics.read_topic(bootstrap_servers, topic, timeout_s=WAIT_S)


def test_an_idempotent_producer_that_waits_for_acks_gets_its_record_stored(bootstrap_servers, topic, link, proxy_url):
    sender = producer(bootstrap_servers, proxy_url)
    try:
        assert sender.config["enable_idempotence"]  # kafka-python's default: it asks for a producer id first
        metadata_ = sender.send(topic, b"acknowledged").get(timeout=WAIT_S)
    finally:
        sender.close()
    assert metadata_.offset == 0
    assert values(bootstrap_servers, topic) == [b"acknowledged"]
    assert link.refused == []


def test_a_producer_with_acks_0_stores_nothing(bootstrap_servers, topic, link, proxy_url):
    sender = producer(bootstrap_servers, proxy_url, acks=0)
    try:
        sender.send(topic, b"never acknowledged")
        sender.flush(timeout=WAIT_S)
        assert wait_until(lambda: "produce with acks=0" in link.refused)
    finally:
        sender.close()
    honest = producer(bootstrap_servers, proxy_url)
    try:
        honest.send(topic, b"acknowledged").get(timeout=WAIT_S)
    finally:
        honest.close()
    assert values(bootstrap_servers, topic) == [b"acknowledged"]


def test_a_transactional_producer_is_refused(bootstrap_servers, topic, link, proxy_url):
    sender = producer(bootstrap_servers, proxy_url, transactional_id=f"kit-test-{uuid.uuid4().hex}", max_block_ms=3000)
    try:
        with pytest.raises(KafkaError):
            sender.init_transactions()
    finally:
        sender.close(timeout=5)
    assert {"find coordinator of key type 1", "transactional producer id"} & set(link.refused), link.refused
    assert values(bootstrap_servers, topic) == []


def test_an_admin_client_may_create_topics_but_not_kafkas_own_nor_too_wide(
    bootstrap_servers, topic_prefix, link, proxy_url
):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, proxy_url=proxy_url, request_timeout_ms=5000)
    fine = f"{topic_prefix}through-link-{uuid.uuid4().hex[:8]}"
    try:
        admin.create_topics([NewTopic(fine, 3, 1)])
        for name, partitions in (("__consumer_offsets", 1), (f"__{topic_prefix}x", 1), (f"{fine}-wide", 10_000)):
            with pytest.raises(KafkaError):
                admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    with topics.admin(bootstrap_servers) as direct:
        created = {entry["name"]: len(entry["partitions"]) for entry in direct.describe_topics()}
    assert created[fine] == 3 and f"__{topic_prefix}x" not in created and f"{fine}-wide" not in created
    assert created.get("__consumer_offsets", 50) == 50  # Kafka's own, if a group has made it
    reasons = {"create topic __consumer_offsets", f"create topic __{topic_prefix}x", "a topic of 10000 partitions"}
    assert set(link.refused) == reasons


def test_produce_answers_wait_while_held(bootstrap_servers, topic, link, proxy_url):
    sender = producer(bootstrap_servers, proxy_url)
    try:
        sender.send(topic, b"warm-up").get(timeout=WAIT_S)  # connected, with a producer id
        link.hold()
        future = sender.send(topic, b"held")
        assert link.wait_for_produce(WAIT_S)
        assert wait_until(lambda: link.buffered_bytes > 0)  # the answer is in, held back
        time.sleep(0.5)
        assert not future.is_done
        link.release()
        assert future.get(timeout=WAIT_S).offset == 1
    finally:
        link.release()
        sender.close()


def test_a_cut_link_refuses_connections_until_opened_again(bootstrap_servers, topic, link, proxy_url):
    with connect(link.path) as before:
        link.cut()
        assert closed_by_link(before)
    assert not link.path.exists() and link.connections == 0
    with pytest.raises(OSError):
        connect(link.path)
    link.open()
    sender = producer(bootstrap_servers, proxy_url)
    try:
        assert sender.send(topic, b"back").get(timeout=WAIT_S).offset == 0
    finally:
        sender.close()


def test_a_consumer_group_reads_and_commits_through_the_link(bootstrap_servers, topic, link, proxy_url):
    sender = topics.producer(bootstrap_servers)  # straight to the broker
    try:
        sender.send(topic, b"to read").get(timeout=WAIT_S)
    finally:
        sender.close()
    reader = topics.group_consumer(bootstrap_servers, topic, f"kit-test-{uuid.uuid4().hex[:8]}", proxy_url=proxy_url)
    try:
        read = []
        deadline = time.monotonic() + WAIT_S
        while not read and time.monotonic() < deadline:
            read = [record.value for batch in reader.poll(timeout_ms=500).values() for record in batch]
        reader.commit()
    finally:
        reader.close()
    assert read == [b"to read"]
    assert link.refused == []
