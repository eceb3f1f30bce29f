"""Create a topic and read one back whole: what the kit's tools and tests need of Kafka's admin side."""

import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

TIMEOUT_MS = 15000


def create_topic(bootstrap_servers: str, name: str, partitions: int = 1, replicas: int = 1,
                 configs: dict | None = None) -> str:
    """Create a topic (it must not exist yet) and return its name."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=TIMEOUT_MS,
                             bootstrap_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(name, partitions, replicas, topic_configs=configs or {})],
                            timeout_ms=TIMEOUT_MS)
    finally:
        admin.close()
    return name


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 60.0) -> list:
    """Return the value of every record on the topic, from the beginning to its end when called."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             request_timeout_ms=TIMEOUT_MS, bootstrap_timeout_ms=TIMEOUT_MS,
                             max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            raise RuntimeError(f"Topic {topic} was not found on {bootstrap_servers}: was it deleted?")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        values, deadline = [], time.monotonic() + timeout_s
        while any(consumer.position(p) < end[p] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Reading {topic} took over {timeout_s:.0f} s: is the broker overloaded?")
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(record.value for record in records)
        return values
    finally:
        consumer.close()


def end_offsets(bootstrap_servers: str, topic: str) -> dict:
    """Return {partition: offset the next record will get} for every partition of the topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, request_timeout_ms=TIMEOUT_MS,
                             bootstrap_timeout_ms=TIMEOUT_MS)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def read_since(bootstrap_servers: str, topic: str, since: dict, timeout_s: float = 15.0) -> dict:
    """Return {(partition, offset): value} of every record written after the `since` offsets."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             request_timeout_ms=TIMEOUT_MS, bootstrap_timeout_ms=TIMEOUT_MS)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        ends = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, since.get(tp.partition, 0))
        found, deadline = {}, time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found.update({(r.partition, r.offset): r.value for r in records})
        return found
    finally:
        consumer.close()


def ensure_topic(bootstrap_servers: str, name: str, partitions: int = 1) -> str:
    """Create the topic unless it exists, and return its name."""
    try:
        return create_topic(bootstrap_servers, name, partitions)
    except TopicAlreadyExistsError:
        return name


def delete_topics_with_prefix(bootstrap_servers: str, prefix: str) -> list:
    """Delete every topic whose name starts with the prefix, and return their names."""
    if not prefix:
        raise ValueError("An empty prefix would delete every topic.")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=TIMEOUT_MS,
                             bootstrap_timeout_ms=TIMEOUT_MS)
    try:
        names = sorted(name for name in admin.list_topics() if name.startswith(prefix))
        if names:
            admin.delete_topics(names, timeout_ms=TIMEOUT_MS)
        return names
    finally:
        admin.close()
