"""Private Kafka brokers, each leased to one submission at a time and emptied first: none meets another's records.

`make grade JOBS=N` starts 2N of them (turns.py: N notebooks run their cells while N others start up or are
probed), and each submission leases one. Before a submission runs, every topic and consumer
group on it is deleted and the topic `clicks` is made again, so a submission starts from the empty broker a student
has on their own machine, and nothing it does reaches the next one.
"""

import queue
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from kafka.errors import KafkaError

from clickkit.broker import topics
from clickkit.broker.local import LocalKafka, start_on_free_ports
from clickkit.errors import GraderError, KitError

EMPTY_WITHIN_S = 60.0


class PrivateBrokers:
    """`count` single-node brokers on loopback, each leased to one submission at a time."""

    def __init__(self, count: int, cache: Path, topic: str):
        self.topic = topic
        self.home = Path(tempfile.mkdtemp(prefix="clickkit-grading-kafka-"))
        self.brokers: list[LocalKafka] = []
        self._free = queue.Queue()
        try:
            with ThreadPoolExecutor(max_workers=count) as pool:
                started = pool.map(
                    lambda n: start_on_free_ports(self.home / f"broker-{n}", 1, cache, host="127.0.0.1"), range(count)
                )
                self.brokers = list(started)
        except KitError as error:
            self.stop()
            raise GraderError(f"the grader could not start its private Kafka brokers: {error}") from error
        for broker in self.brokers:
            self._free.put(broker)

    @contextmanager
    def lease(self):
        """Yield an emptied broker with a fresh topic; give it back afterwards."""
        broker = self._free.get()
        try:
            empty(broker.bootstrap_servers, self.topic)
            yield broker
        finally:
            self._free.put(broker)

    def stop(self) -> None:
        """Stop every broker and remove their folders."""
        for broker in self.brokers:
            broker.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def empty(bootstrap_servers: str, topic: str) -> None:
    """Delete every topic and consumer group on the broker, then create `topic` again; raise GraderError if stuck."""
    deadline = time.monotonic() + EMPTY_WITHIN_S
    try:
        with topics.admin(bootstrap_servers, timeout_s=15) as client:
            groups = [group["group_id"] if isinstance(group, dict) else group[0] for group in client.list_groups()]
            if groups:
                client.delete_groups(groups)
            while True:
                left = [name for name in client.list_topics() if not name.startswith("__")]
                if not left:
                    break
                if time.monotonic() > deadline:
                    raise GraderError(f"the private broker at {bootstrap_servers} still has topics {left[:5]}")
                try:
                    client.delete_topics(left, timeout_ms=15000)
                except KafkaError:
                    time.sleep(0.5)  # a topic already on its way out: list again
        while True:
            try:
                topics.create_topic(bootstrap_servers, topic)
                return
            except KafkaError as error:  # the deleted topic's name may take a moment to be free again
                if time.monotonic() > deadline:
                    raise GraderError(
                        f"the private broker at {bootstrap_servers} cannot create {topic}: {error}"
                    ) from error
                time.sleep(0.5)
    except KafkaError as error:
        raise GraderError(f"the private broker at {bootstrap_servers} failed while being emptied: {error!r}") from error
