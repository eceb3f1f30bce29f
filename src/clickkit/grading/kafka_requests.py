"""Read the Kafka protocol's requests as far as the grader's broker link needs: the header, and a few bodies.

The header gives the api key, version, correlation id and client id; for produce, transactional, group and topic
requests the body gives what the link judges (acks, a transactional id, the topics and partitions a request would
create). Layouts follow Kafka's request schemas; "flexible" versions use compact strings, arrays and tagged fields.
"""

import struct
from dataclasses import dataclass, field

from clickkit.broker.local import BROKER_SETTINGS

PRODUCE, OFFSET_COMMIT, METADATA, FIND_COORDINATOR, JOIN_GROUP, CREATE_TOPICS, INIT_PRODUCER_ID = (
    0,
    8,
    3,
    10,
    11,
    19,
    22,
)
# What a notebook's clients need: produce, fetch, offsets, metadata, consumer groups, topic creation, configs
# read-only, cluster description, idempotent producers. Everything else (DeleteTopics 20, DeleteRecords 21,
# AddPartitionsToTxn 24, AddOffsetsToTxn 25, EndTxn 26, TxnOffsetCommit 28, AlterConfigs 33, CreatePartitions 37,
# DeleteGroups 42, AlterClientQuotas 49, ...) is refused.
ALLOWED_API_KEYS = frozenset({0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 22, 32, 60})
# The first "flexible" version (compact strings and arrays, tagged fields) of each request whose body is read.
FLEXIBLE_FROM = {
    PRODUCE: 9,
    OFFSET_COMMIT: 8,
    METADATA: 9,
    FIND_COORDINATOR: 3,
    JOIN_GROUP: 6,
    CREATE_TOPICS: 5,
    INIT_PRODUCER_ID: 2,
}
ADMIN_CLIENT_ID = "__admin_client"  # Kafka lets a client of this id write to its internal topics
DEFAULT_PARTITIONS = int(BROKER_SETTINGS["num.partitions"])  # what a topic gets when its creator names no number
MAX_TOPICS = 100  # topic names a submission may create, or name where Kafka would create them
MAX_PARTITIONS_PER_TOPIC = 64
MAX_ENTRIES = 1000  # of any other list in a request the link reads (configs): reading stays cheap


@dataclass
class Request:
    """What the link reads of a request: its header, and in its body what the grader's rules look at."""

    api_key: int
    version: int
    correlation: int
    client_id: str | None = None
    acks: int | None = None  # Produce
    transactional_id: str | None = None  # Produce v3+, InitProducerId
    coordinator_type: int = 0  # FindCoordinator: 0 a group, 1 a transaction, 2 a share group
    named: int = 0  # how many topics a CreateTopics or Metadata request names
    new_topics: dict = field(default_factory=dict)  # {name: partitions} it creates, or lets Kafka create
    group: str | None = None  # the group an OffsetCommit or JoinGroup creates if it is new


class Cursor:
    """Read Kafka's primitive types from a frame, front to back; ValueError past its end."""

    def __init__(self, data, offset: int = 4):
        self.data, self.offset = data, offset

    def take(self, size: int) -> bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise ValueError("a truncated request")
        self.offset += size
        return bytes(self.data[self.offset - size : self.offset])

    def int(self, kind: str) -> int:
        """Read a big-endian integer of struct's kind: "b" int8, "h" int16, "i" int32."""
        return struct.unpack(">" + kind, self.take(struct.calcsize(kind)))[0]

    def uvarint(self) -> int:
        value = 0
        for shift in range(0, 35, 7):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise ValueError("a varint of over 5 bytes")

    def string(self, compact: bool) -> str | None:
        size = self.uvarint() - 1 if compact else self.int("h")
        return None if size < 0 else self.take(size).decode("utf-8", "replace")

    def count(self, compact: bool, most: int = MAX_ENTRIES) -> int:
        """Read an array's length (-1 for null); ValueError above `most`."""
        size = self.uvarint() - 1 if compact else self.int("i")
        if size > most:
            raise ValueError(f"a list of {size} entries")
        return size

    def skip_tags(self) -> None:
        count = self.uvarint()
        if count > MAX_ENTRIES:
            raise ValueError(f"{count} tagged fields")
        for _ in range(count):
            self.uvarint()
            self.take(self.uvarint())


def read_request(frame) -> Request:
    """Read a request's header, and its body as far as the grader's rules need; ValueError if it is malformed."""
    cursor = Cursor(frame)
    request = Request(cursor.int("h"), cursor.int("h"), cursor.int("i"))
    reader = BODY_READERS.get(request.api_key)
    if reader is not None:
        request.client_id = cursor.string(compact=False)  # compact in no header version
        flexible = request.version >= FLEXIBLE_FROM[request.api_key]
        if flexible:
            cursor.skip_tags()
        reader(cursor, request, flexible)
    return request


def _produce(cursor: Cursor, request: Request, flexible: bool) -> None:
    if request.version >= 3:
        request.transactional_id = cursor.string(flexible)
    request.acks = cursor.int("h")


def _init_producer_id(cursor: Cursor, request: Request, flexible: bool) -> None:
    request.transactional_id = cursor.string(flexible)


def _find_coordinator(cursor: Cursor, request: Request, flexible: bool) -> None:
    if request.version >= 1:  # v0 finds only groups' coordinators
        if request.version <= 3:
            cursor.string(flexible)  # the key, before its type
        request.coordinator_type = cursor.int("b")


def _group(cursor: Cursor, request: Request, flexible: bool) -> None:
    request.group = cursor.string(flexible)


def _create_topics(cursor: Cursor, request: Request, flexible: bool) -> None:
    request.named = cursor.count(flexible, most=2**31)
    for _ in range(request.named if request.named <= MAX_TOPICS else 0):
        name, partitions, _ = cursor.string(flexible) or "", cursor.int("i"), cursor.int("h")
        assignments = cursor.count(flexible, most=2**31)
        if assignments > MAX_PARTITIONS_PER_TOPIC:
            request.new_topics[name] = assignments  # refused for its partitions: no need to read on
            return
        for _ in range(max(assignments, 0)):
            cursor.int("i")
            cursor.take(4 * max(cursor.count(flexible), 0))  # the replicas' broker ids
            if flexible:
                cursor.skip_tags()
        for _ in range(max(cursor.count(flexible), 0)):
            cursor.string(flexible), cursor.string(flexible)  # a config's name and value
            if flexible:
                cursor.skip_tags()
        if flexible:
            cursor.skip_tags()
        if partitions < 0:  # Kafka's default, or as many as the assignments name
            partitions = assignments if assignments > 0 else DEFAULT_PARTITIONS
        request.new_topics[name] = max(partitions, request.new_topics.get(name, 0))


def _metadata(cursor: Cursor, request: Request, flexible: bool) -> None:
    request.named = max(cursor.count(flexible, most=2**31), 0)  # null (-1) asks for every topic
    if request.named > MAX_TOPICS:
        return
    names = []
    for _ in range(request.named):
        if request.version >= 10:
            cursor.take(16)  # the topic's id
        names.append(cursor.string(flexible))
        if flexible:
            cursor.skip_tags()
    if request.version < 4 or cursor.int("b"):  # allow_auto_topic_creation: Kafka creates names it lacks
        request.new_topics = {name: DEFAULT_PARTITIONS for name in names if name is not None}


BODY_READERS = {
    PRODUCE: _produce,
    OFFSET_COMMIT: _group,
    METADATA: _metadata,
    FIND_COORDINATOR: _find_coordinator,
    JOIN_GROUP: _group,
    CREATE_TOPICS: _create_topics,
    INIT_PRODUCER_ID: _init_producer_id,
}
