"""Sum up the records read from the clicks topic into what the live page shows."""

import json
import threading
import time
from collections import Counter, deque

WINDOW_S = 60   # the chart: events per second over the last minute
LAST_EVENTS = 10
TOP = 6         # rows per count table, the rest summed as "others": all fits on a 1280×720 projector
DIMENSIONS = {"country": "visitor_country", "platform": "visitor_platform", "article": "article_title"}


def label(event: dict, field: str) -> str:
    """Return the text a count table shows for a field of an event, dirt included."""
    if field not in event:
        if field == "article_title" and "article" in event:
            return label(event, "article")
        return "(missing)"
    value = event[field]
    # Dirty events are counted as they are, so the class sees them: null, "be", 42...
    return value if isinstance(value, str) else json.dumps(value)


def decode(value: bytes | None):
    """Return (the record's JSON value, True), or (its text, False) when it is not a JSON object."""
    if value is None:
        return None, False
    try:
        data = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return value.decode("utf-8", errors="replace"), False
    return (data, True) if isinstance(data, dict) else (value.decode("utf-8"), False)


class LiveTotals:
    """The running totals of one topic, fed by one consumer thread and read by any number of pages."""

    def __init__(self, topic: str, bootstrap_servers: str, starting_at: str):
        self.topic, self.bootstrap_servers, self.starting_at = topic, bootstrap_servers, starting_at
        self.started_ms = int(time.time() * 1000)
        self.total = self.not_json = 0
        self.counts = {name: Counter() for name in DIMENSIONS}
        self.per_second = Counter()  # epoch second of the record's timestamp -> events
        self.last = deque(maxlen=LAST_EVENTS)
        self.kafka_error = ""
        self.lag = None  # {"group", "now", "state", "problem"} once a LagFeed reports, for `make demo ARGS=--lag`
        self.lag_by_second = {}  # epoch second -> the group's last lag measured in it
        self.version = 0
        self.changed = threading.Condition()

    def add(self, partition: int, offset: int, timestamp_ms: int, value: bytes | None) -> None:
        """Count one record: its timestamp for the chart, its fields for the tables, it for the last events."""
        data, is_json = decode(value)
        # The record's timestamp is when the producer sent it; -1 only in very old record formats.
        second = (timestamp_ms if timestamp_ms and timestamp_ms > 0 else int(time.time() * 1000)) // 1000
        with self.changed:
            self.total += 1
            self.per_second[second] += 1
            if is_json:
                for name, field in DIMENSIONS.items():
                    self.counts[name][label(data, field)] += 1
            else:
                self.not_json += 1
            self.last.appendleft({"partition": partition, "offset": offset, "json": is_json, "value": data})
            self._changed()

    def report_kafka(self, error: str) -> None:
        """Remember what went wrong reading Kafka ('' once it works again), for the page to show."""
        with self.changed:
            if error != self.kafka_error:
                self.kafka_error = error
                self._changed()

    def report_lag(self, group: str, lag: int | None, state: str = "", problem: str = "") -> None:
        """Remember a consumer group's lag (None: it could not be read), whether it runs, and what went wrong."""
        with self.changed:
            if lag is not None:
                self.lag_by_second[int(time.time())] = lag
            self.lag = {"group": group, "now": lag, "state": state, "problem": problem}
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def wait(self, version: int, timeout_s: float) -> int:
        """Wait until something changed after `version`, or the timeout; return the current version."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != version, timeout=timeout_s)
            return self.version

    def snapshot(self, now_s: float | None = None) -> dict:
        """Return everything the page shows, as plain JSON-ready data."""
        now = int(time.time() if now_s is None else now_s)
        with self.changed:
            # Drop seconds that left the chart, so a demo left running for days stays small.
            for second in [s for s in self.per_second if s <= now - WINDOW_S]:
                del self.per_second[second]
            seconds = [self.per_second.get(s, 0) for s in range(now - WINDOW_S + 1, now + 1)]
            # A clock ahead of ours would put events in the future: show them as arriving now.
            seconds[-1] += sum(n for s, n in self.per_second.items() if s > now)
            for second in [s for s in self.lag_by_second if s <= now - WINDOW_S]:
                del self.lag_by_second[second]
            lag = None if self.lag is None else {
                **self.lag, "per_second": [self.lag_by_second.get(s) for s in range(now - WINDOW_S + 1, now + 1)]}
            return {
                "topic": self.topic,
                "bootstrap_servers": self.bootstrap_servers,
                "starting_at": self.starting_at,
                "started_ms": self.started_ms,
                "total": self.total,
                "not_json": self.not_json,
                "per_second": seconds,
                "counts": {name: top(counter) for name, counter in self.counts.items()},
                "last": list(self.last),
                "kafka_error": self.kafka_error,
                "lag": lag,
                "version": self.version,
            }


def top(counter: Counter) -> dict:
    """Return the largest counts (ties by name), the sum of the others, and how many values there are."""
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return {"rows": ranked[:TOP], "others": sum(n for _, n in ranked[TOP:]), "distinct": len(ranked)}
