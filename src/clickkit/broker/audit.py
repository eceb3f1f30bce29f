"""Check a topic against what an endpoint acknowledged: each acknowledged event must be on it exactly once."""

import json
from collections import Counter
from dataclasses import dataclass

from clickkit.broker.topics import read_topic


@dataclass(frozen=True)
class Audit:
    """What the topic holds of the events that were sent, by the id each event carries."""

    acknowledged: int  # answers that promised the event is in Kafka
    found_on_topic: int
    missing: int  # acknowledged, yet not on the topic: a broken promise
    duplicates: int  # extra copies of an event
    # Not an error: a request that timed out on the client, or got a 503, may still have reached Kafka.
    unacknowledged_on_topic: int
    acknowledged_twice: int


def count_ids(bootstrap_servers: str, topic: str, key: str, timeout_s: float = 120.0) -> Counter:
    """Read the whole topic and count each id under `key`; a record without one counts under None."""
    counts = Counter()
    for value in read_topic(bootstrap_servers, topic, timeout_s):
        try:
            event = json.loads(value)
        except ValueError:
            event = None
        counts[event.get(key) if isinstance(event, dict) else None] += 1
    return counts


def reconcile(acknowledged, counts: Counter, sent=None) -> Audit:
    """Compare the acknowledged ids with the topic's counts, over the ids sent (all on the topic if not given)."""
    acknowledged = list(acknowledged)
    unique = set(acknowledged)
    considered = set(sent) if sent is not None else set(counts) | unique
    return Audit(
        acknowledged=len(acknowledged),
        found_on_topic=sum(1 for event_id in unique if counts[event_id] > 0),
        missing=sum(1 for event_id in unique if counts[event_id] == 0),
        duplicates=sum(counts[event_id] - 1 for event_id in considered if counts[event_id] > 1),
        unacknowledged_on_topic=sum(1 for event_id in considered - unique if counts[event_id] > 0),
        acknowledged_twice=len(acknowledged) - len(unique),
    )
