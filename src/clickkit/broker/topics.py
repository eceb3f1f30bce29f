"""Build every Kafka client the kit's own tools use, each with bounded waits, and the few things they ask of Kafka.

The ingest endpoints (`clickkit.ingest`) build their producers themselves: that producer is what the course teaches.
"""

import contextlib
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from clickkit.errors import UnknownTopic

TIMEOUT_MS = 15000


def _bounded(bootstrap_servers: str, timeout_s: float | None) -> dict:
    # kafka-python waits 30 s for a first connection, and forever for some answers, unless told otherwise.
    ms = int(timeout_s * 1000) if timeout_s else TIMEOUT_MS
    return {"bootstrap_servers": bootstrap_servers, "request_timeout_ms": ms, "bootstrap_timeout_ms": ms}


@contextlib.contextmanager
def admin(bootstrap_servers: str, timeout_s: float | None = None):
    """Yield an admin client, and close it afterwards."""
    client = KafkaAdminClient(**_bounded(bootstrap_servers, timeout_s))
    try:
        yield client
    finally:
        client.close()


def producer(bootstrap_servers: str, timeout_s: float | None = None, **settings) -> KafkaProducer:
    """Return a producer that waits for every replica (acks=all) and at most timeout_s for a broker."""
    bounded = _bounded(bootstrap_servers, timeout_s)
    return KafkaProducer(**{"acks": "all", "max_block_ms": bounded["request_timeout_ms"], **bounded, **settings})


def consumer_at(
    bootstrap_servers: str, topic: str, offsets="beginning", timeout_s: float | None = None, **settings
) -> KafkaConsumer:
    """Return a consumer in no group on every partition of the topic, at "beginning", "end" or {partition: offset}."""
    consumer = KafkaConsumer(enable_auto_commit=False, **_bounded(bootstrap_servers, timeout_s), **settings)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            raise UnknownTopic(
                f"The topic {topic} does not exist on {bootstrap_servers}: create it, or check the "
                "topic's name (CLICKS_TOPIC)."
            )
        consumer.assign(partitions)
        if offsets == "beginning":
            consumer.seek_to_beginning(*partitions)
        elif offsets == "end":
            # Explicit offsets, known before this returns: nothing sent afterwards can be skipped.
            for partition, offset in consumer.end_offsets(partitions).items():
                consumer.seek(partition, offset)
        else:
            for partition in partitions:
                consumer.seek(partition, offsets.get(partition.partition, 0))  # a new partition: from its start
        return consumer
    except BaseException:
        consumer.close()
        raise


def group_consumer(
    bootstrap_servers: str, topic: str, group: str, timeout_s: float | None = None, **settings
) -> KafkaConsumer:
    """Return a member of the group on the topic, from its committed offset (or the first record): commits when told."""
    return KafkaConsumer(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **_bounded(bootstrap_servers, timeout_s),
        **settings,
    )


def _read_to_end(consumer: KafkaConsumer, timeout_s: float) -> tuple:
    """Return the records up to where each assigned partition ends now, and whether all were read in time."""
    partitions = list(consumer.assignment())
    ends = consumer.end_offsets(partitions)
    records, deadline = [], time.monotonic() + timeout_s
    while any(consumer.position(p) < ends[p] for p in partitions):
        if time.monotonic() > deadline:
            return records, False
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records, True


def records_since(bootstrap_servers: str, topic: str, since: dict, timeout_s: float = 15.0) -> list:
    """Return every record written after the `since` offsets ({partition: offset}), oldest first per partition."""
    return read_to_end_since(bootstrap_servers, topic, since, timeout_s)[0]


def read_to_end_since(bootstrap_servers: str, topic: str, since: dict, timeout_s: float = 15.0) -> tuple:
    """Return the records written after `since`, whether all were read in time, and where each partition starts.

    Only committed records: a transaction's records count once it commits, never if it aborts. Its end is then
    the last stable offset, so a transaction still open ends the read where it began instead of stalling it.
    """
    consumer = consumer_at(bootstrap_servers, topic, since, isolation_level="read_committed")
    try:
        starts = {
            tp.partition: offset for tp, offset in consumer.beginning_offsets(list(consumer.assignment())).items()
        }
        return (*_read_to_end(consumer, timeout_s), starts)
    finally:
        consumer.close()


def read_since(bootstrap_servers: str, topic: str, since: dict, timeout_s: float = 15.0) -> dict:
    """Return {(partition, offset): value} of every record written after the `since` offsets."""
    return {(r.partition, r.offset): r.value for r in records_since(bootstrap_servers, topic, since, timeout_s)}


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 60.0) -> list:
    """Return the value of every record on the topic, from the beginning to its end when called."""
    consumer = consumer_at(bootstrap_servers, topic, "beginning", max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        records, complete = _read_to_end(consumer, timeout_s)
        if not complete:
            raise TimeoutError(f"Reading {topic} took over {timeout_s:.0f} s: is the broker overloaded?")
        return [record.value for record in records]
    finally:
        consumer.close()


def end_offsets(bootstrap_servers: str, topic: str) -> dict:
    """Return {partition: offset the next record will get} for every partition of the topic ({} if it is missing)."""
    consumer = KafkaConsumer(**_bounded(bootstrap_servers, None))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 1,
    replicas: int = 1,
    configs: dict | None = None,
    timeout_s: float | None = None,
) -> str:
    """Create a topic (it must not exist yet) and return its name."""
    with admin(bootstrap_servers, timeout_s) as client:
        client.create_topics(
            [NewTopic(name, partitions, replicas, topic_configs=configs or {})],
            timeout_ms=_bounded(bootstrap_servers, timeout_s)["request_timeout_ms"],
        )
    return name


def ensure_topic(bootstrap_servers: str, name: str, partitions: int = 1, timeout_s: float | None = None) -> str:
    """Create the topic unless it exists, and return its name."""
    try:
        return create_topic(bootstrap_servers, name, partitions, timeout_s=timeout_s)
    except TopicAlreadyExistsError:
        return name


def describe_topic(bootstrap_servers: str, topic: str) -> tuple:
    """Return the topic's partitions (as Kafka describes them) and its configuration {name: value}."""
    with admin(bootstrap_servers) as client:
        partitions = client.describe_topics([topic])[0]["partitions"]
        configs = client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
    return partitions, {name: entry.get("value") for name, entry in configs.items()}


def delete_topics_with_prefix(bootstrap_servers: str, prefix: str) -> list:
    """Delete every topic whose name starts with the prefix, and return their names."""
    if not prefix:
        raise ValueError("An empty prefix would delete every topic.")
    with admin(bootstrap_servers) as client:
        names = sorted(name for name in client.list_topics() if name.startswith(prefix))
        if names:
            client.delete_topics(names, timeout_ms=TIMEOUT_MS)
        return names


def registered_brokers(bootstrap_servers: str, timeout_s: float = 5.0) -> int:
    """Return how many brokers have registered with the cluster and are not fenced."""
    with admin(bootstrap_servers, timeout_s) as client:
        return sum(1 for broker in client.describe_cluster()["brokers"] if not broker.get("is_fenced"))


def advertised_brokers(bootstrap_servers: str, timeout_s: float | None = None) -> list:
    """Return the brokers as Kafka advertises them in its answer to the bootstrap address."""
    with admin(bootstrap_servers, timeout_s) as client:
        # The bootstrap answer's metadata, read before any connection to the advertised addresses: asking
        # anything more (describe_cluster) would itself need them, and the doctor checks whether they work.
        return sorted(client._client.cluster.brokers(), key=lambda broker: broker.node_id)
