"""Check a benchmark topic: every acknowledged event must be on it exactly once."""

import json
import time
from collections import Counter

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

TIMEOUT_MS = 15000


def create_topic(bootstrap_servers: str, name: str) -> str:
    """Create a fresh one-partition topic (as students use), so its contents belong to one measurement."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(name, 1, 1)], timeout_ms=TIMEOUT_MS)
    finally:
        admin.close()
    return name


def count_ids(bootstrap_servers: str, topic: str, timeout_s: float = 120.0) -> Counter:
    """Read the whole topic and count how often each `bench_id` appears on it."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, request_timeout_ms=TIMEOUT_MS,
                             enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024)
    counts = Counter()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            raise RuntimeError(f"Topic {topic} was not found on the broker; was it deleted during the benchmark?")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(p) < end[p] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Reading {topic} back took over {timeout_s:.0f}s; the broker may be overloaded.")
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    counts[json.loads(record.value).get("bench_id")] += 1
    finally:
        consumer.close()
    return counts


def reconcile(acknowledged_ids, counts: Counter) -> dict:
    """Compare the ids that got a 200 with what the topic holds."""
    acknowledged = set(acknowledged_ids)
    return {
        "acknowledged": len(acknowledged_ids),
        "found_on_topic": sum(1 for bench_id in acknowledged if counts[bench_id] > 0),
        "duplicates": sum(count - 1 for count in counts.values() if count > 1),
        # Not an error: a request that timed out on the client may still have reached Kafka.
        "unacknowledged_on_topic": sum(1 for bench_id in counts if bench_id not in acknowledged),
        "acknowledged_twice": len(acknowledged_ids) - len(acknowledged),
    }
