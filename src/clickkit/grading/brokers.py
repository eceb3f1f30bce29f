"""Private Kafka brokers, each leased to one submission at a time and emptied first: none meets another's records.

`make grade JOBS=N` starts 2N of them (turns.py: N notebooks run their cells while N others start up or are
probed), and each submission leases one. Before a submission runs, every topic and consumer
group on it is deleted and the topic `clicks` is made again, so a submission starts from the empty broker a student
has on their own machine, and nothing it does reaches the next one. Emptying waits until the deleted topics are gone,
and a broker with a topic named like Kafka's own that Kafka did not make is replaced: such a topic would outlast it.
"""

import itertools
import queue
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError, TopicAlreadyExistsError

from clickkit.broker import topics
from clickkit.broker.local import LocalKafka, kafka_libs, start_on_free_ports
from clickkit.errors import GraderError, KitError
from clickkit.grading import watchdog

EMPTY_WITHIN_S = 60.0
# Kafka's consumer offsets topic: made by the broker for the first consumer group, with this many partitions. The
# broker link lets no submission create any other topic named `__...`, nor reach a transaction's or share group's.
OFFSETS_TOPIC, OFFSETS_PARTITIONS = "__consumer_offsets", "offsets.topic.num.partitions"


class PrivateBrokers:
    """`count` single-node brokers on loopback, each leased to one submission at a time."""

    def __init__(self, count: int, cache: Path, topic: str):
        self.topic, self.cache = topic, cache
        self.home = watchdog.owned_folder(watchdog.BROKERS_PREFIX)
        self.brokers: list[LocalKafka] = []
        self._free = queue.Queue()
        self._started = itertools.count()
        try:
            kafka_libs(cache)  # fetched once, before the brokers start side by side and would each fetch them
            with ThreadPoolExecutor(max_workers=count) as pool:
                self.brokers = list(pool.map(lambda _: self._start(), range(count)))
        except KitError as error:
            self.stop()
            raise GraderError(f"the grader could not start its private Kafka brokers: {error}") from error
        for broker in self.brokers:
            self._free.put(broker)

    def _start(self) -> LocalKafka:
        """Start one more broker, in a folder of its own."""
        return start_on_free_ports(self.home / f"broker-{next(self._started)}", 1, self.cache, host="127.0.0.1")

    @contextmanager
    def lease(self):
        """Yield an emptied broker with a fresh topic; give it back afterwards.

        A broker that has died, or cannot be emptied, is replaced by a new one first: one broker's fault
        must not cost every later submission that would have leased it.
        """
        broker = self._free.get()
        try:
            try:
                if len(broker.running()) < len(broker.nodes):
                    raise GraderError(f"the private broker at {broker.bootstrap_servers} is no longer running")
                empty(broker.bootstrap_servers, self.topic)
            except GraderError as fault:
                print(f"{fault}: starting another private broker in its place", file=sys.stderr, flush=True)
                broker = self._replace(broker)
                empty(broker.bootstrap_servers, self.topic)
            yield broker
        finally:
            self._free.put(broker)

    def _replace(self, broker: LocalKafka) -> LocalKafka:
        """Stop a faulty broker and start another in its place; raise GraderError when none starts."""
        broker.stop(timeout_s=10)
        try:
            fresh = self._start()
        except KitError as error:
            raise GraderError(f"the grader could not start a private Kafka broker: {error}") from error
        self.brokers[self.brokers.index(broker)] = fresh
        return fresh

    def stop(self) -> None:
        """Stop every broker and remove their folders."""
        for broker in self.brokers:
            broker.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def empty(bootstrap_servers: str, topic: str) -> None:
    """Delete every topic and consumer group on the broker, then create `topic` again; raise GraderError if stuck.

    Kafka's own topics are spared, so they must be as Kafka made them: anything else named like them (a topic a
    submission made, or one with the wrong partitions) would outlast the emptying, and the broker is not clean.
    """
    deadline = time.monotonic() + EMPTY_WITHIN_S
    try:
        with topics.admin(bootstrap_servers, timeout_s=15) as client:
            described = client.describe_topics()
            faults = internal_faults(described, offsets_partitions(client, described))
            if faults:
                raise GraderError(f"the private broker at {bootstrap_servers} has topics a submission made: {faults}")
            groups = [group["group_id"] if isinstance(group, dict) else group[0] for group in client.list_groups()]
            if groups:
                client.delete_groups(groups)
            # By id: a topic made again under a deleted one's name is another topic, and no longer to delete.
            deleted = {entry["topic_id"] for entry in described if not entry["name"].startswith("__")}
            while left := [entry["name"] for entry in client.describe_topics() if entry["topic_id"] in deleted]:
                if time.monotonic() > deadline:
                    raise GraderError(f"the private broker at {bootstrap_servers} still has topics {left[:5]}")
                try:
                    client.delete_topics(left, timeout_ms=15000)
                except KafkaError:
                    pass  # a topic already on its way out: look again
                time.sleep(0.2)
            create_again(client, bootstrap_servers, topic, deleted, deadline)
    except KafkaError as error:
        raise GraderError(f"the private broker at {bootstrap_servers} failed while being emptied: {error!r}") from error


def create_again(client, bootstrap_servers: str, topic: str, deleted: set, deadline: float) -> None:
    """Create `topic`, waiting while the one of that name just deleted is still on its way out."""
    while True:
        try:
            topics.create_topic(bootstrap_servers, topic)
            return
        except TopicAlreadyExistsError as error:
            # Either the deleted topic is still there, or an earlier try made it and its answer came too late.
            found = [entry["topic_id"] for entry in client.describe_topics([topic]) if entry["name"] == topic]
            if found and found[0] not in deleted:
                return
            failure = error
        except KafkaError as error:
            failure = error
        if time.monotonic() > deadline:
            raise GraderError(f"the private broker at {bootstrap_servers} cannot create {topic}: {failure!r}")
        time.sleep(0.2)


def offsets_partitions(client, described: list) -> int:
    """Return how many partitions the broker gives its consumer offsets topic (0 when that topic is absent)."""
    if not any(entry["name"] == OFFSETS_TOPIC for entry in described):
        return 0
    node = str(client.describe_cluster()["brokers"][0]["broker_id"])
    wanted = ConfigResource(ConfigResourceType.BROKER, node, {OFFSETS_PARTITIONS: None})
    return int(client.describe_configs([wanted], config_filter="all")["broker"][node][OFFSETS_PARTITIONS]["value"])


def internal_faults(described: list, offsets_partitions: int) -> list:
    """Return each topic named like Kafka's own that Kafka did not make so: only its consumer offsets topic is."""
    faults = []
    for entry in described:
        name, partitions = entry["name"], len(entry["partitions"])
        if name.startswith("__") and not (name == OFFSETS_TOPIC and partitions == offsets_partitions):
            faults.append(f"{name} ({partitions} partitions)")
    return sorted(faults)
