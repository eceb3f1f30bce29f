"""Check a benchmark topic: every acknowledged event must be on it exactly once."""

import json
from collections import Counter

from clickkit.broker.topics import read_topic


def count_ids(bootstrap_servers: str, topic: str, timeout_s: float = 120.0) -> Counter:
    """Read the whole topic and count how often each `bench_id` appears on it."""
    return Counter(json.loads(value).get("bench_id") for value in read_topic(bootstrap_servers, topic, timeout_s))


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
