"""Watch a consumer group from outside: its committed offsets on a topic, and its lag behind the topic's end."""

import contextlib
import time

from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from clickkit.broker import topics
from clickkit.errors import UnknownTopic


class LagWatch:
    """Measure how far a consumer group is behind a topic, again and again, with one admin client.

    Reading offsets joins no group and commits nothing, so watching a group never changes what it reads.
    Like every Kafka client, a LagWatch is used from one thread at a time.
    """

    def __init__(self, bootstrap_servers: str, topic: str, group: str, timeout_s: float = 10.0):
        self.topic, self.group, self.timeout_s = topic, group, timeout_s
        self._clients = contextlib.ExitStack()
        self._client = self._clients.enter_context(topics.admin(bootstrap_servers, timeout_s))
        try:
            numbers = [p["partition_index"] for p in self._client.describe_topics([topic])[0]["partitions"]]
            if not numbers:
                raise UnknownTopic(f"The topic {topic} does not exist on {bootstrap_servers}: create it, or "
                                          "check the topic's name.")
            self.partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        except BaseException:
            self.close()
            raise

    def offsets(self, spec: OffsetSpec) -> dict:
        """Return {partition: offset} of every partition at the spec: EARLIEST (the first kept) or LATEST (the end)."""
        found = self._client.list_partition_offsets({tp: spec for tp in self.partitions})
        return {tp.partition: found[tp].offset for tp in self.partitions}

    def end(self) -> dict:
        """Return {partition: the offset the next record will get}."""
        return self.offsets(OffsetSpec.LATEST)

    def committed(self) -> dict:
        """Return {partition: offset} the group committed on this topic; a partition it never committed is left out."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                found = self._client.list_group_offsets({self.group: self.partitions}).get(self.group, {})
                break
            except KafkaError as error:
                # A broker's first group makes it create its offsets topic: "coordinator not available" meanwhile.
                if not error.retriable or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return {tp.partition: meta.offset for tp, meta in found.items()
                if tp.topic == self.topic and meta is not None and meta.offset >= 0}

    def lag(self) -> int:
        """Return how many records the group has still to read: end minus committed, summed over partitions.

        A partition the group never committed counts from its first record (auto_offset_reset="earliest").
        """
        end, committed = self.end(), self.committed()
        first = self.offsets(OffsetSpec.EARLIEST) if len(committed) < len(end) else {}
        return sum(max(0, offset - committed.get(partition, first.get(partition, 0)))
                   for partition, offset in end.items())

    def close(self) -> None:
        """Close the admin client; calling it again does nothing."""
        self._clients.close()
