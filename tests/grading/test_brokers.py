"""Private brokers: emptied before each lease, and replaced when something a submission made would outlast that."""

import pytest

from clickkit.broker import topics
from clickkit.config import load_settings
from clickkit.errors import GraderError
from clickkit.grading.brokers import OFFSETS_TOPIC, PrivateBrokers, empty, internal_faults

pytestmark = pytest.mark.kafka  # starts brokers of its own: emptying one deletes every topic on it

TOPIC = "clicks"


@pytest.fixture(scope="module")
def pool():
    brokers = PrivateBrokers(1, load_settings().kafka_cache, TOPIC)
    yield brokers
    brokers.stop()


def described(bootstrap_servers: str) -> dict:
    """Return {topic: partitions} of every topic on the broker."""
    with topics.admin(bootstrap_servers) as client:
        return {entry["name"]: len(entry["partitions"]) for entry in client.describe_topics()}


def fill(bootstrap_servers: str, round_: int) -> None:
    """Use the broker as a submission would: topics of several partitions, records, a group's offsets."""
    names = [topics.create_topic(bootstrap_servers, f"used-{round_}-{n}", partitions=3) for n in range(4)]
    sender = topics.producer(bootstrap_servers)
    try:
        for name in [*names, TOPIC]:
            for n in range(30):
                sender.send(name, f"record {n}".encode())
        sender.flush(timeout=30)
    finally:
        sender.close()
    reader = topics.group_consumer(bootstrap_servers, names[0], f"readers-{round_}")
    try:
        for _ in range(30):  # the group forms first
            if reader.poll(timeout_ms=1000):
                break
        reader.commit()
    finally:
        reader.close()


def test_emptying_right_after_use_and_again_at_once_leaves_a_fresh_topic(pool):
    for round_ in range(3):
        with pool.lease() as broker:
            fill(broker.bootstrap_servers, round_)
            for _ in range(3):  # each time at once: what it deleted may still be on its way out
                empty(broker.bootstrap_servers, TOPIC)
            on_broker = described(broker.bootstrap_servers)
            assert set(on_broker) == {TOPIC, OFFSETS_TOPIC}  # the group made Kafka's own offsets topic
            assert on_broker[OFFSETS_TOPIC] == 50  # as Kafka makes it (offsets.topic.num.partitions)
            assert topics.end_offsets(broker.bootstrap_servers, TOPIC) == {0: 0}
            with topics.admin(broker.bootstrap_servers) as client:
                assert client.list_groups() == []


def test_a_broker_with_a_topic_named_like_kafkas_own_is_replaced(pool):
    with pool.lease() as broker:
        first = broker.bootstrap_servers
        topics.create_topic(first, "__persist", partitions=2)  # as the link would never let a submission
        with pytest.raises(GraderError, match="__persist"):
            empty(first, TOPIC)
    with pool.lease() as broker:  # the pool empties it, fails, and starts another in its place
        assert broker.bootstrap_servers != first and len(broker.running()) == 1
        assert described(broker.bootstrap_servers) == {TOPIC: 1}
        # No group has made Kafka's offsets topic yet: one of a single partition would take its place.
        topics.create_topic(broker.bootstrap_servers, OFFSETS_TOPIC, partitions=1)
        with pytest.raises(GraderError, match=OFFSETS_TOPIC):
            empty(broker.bootstrap_servers, TOPIC)


def test_only_kafkas_own_offsets_topic_as_kafka_makes_it_is_clean():
    def topic(name, partitions):
        return {"name": name, "partitions": [{"partition_index": n} for n in range(partitions)]}

    assert internal_faults([topic(TOPIC, 1), topic("_kit_health", 1), topic(OFFSETS_TOPIC, 50)], 50) == []
    assert internal_faults([topic(OFFSETS_TOPIC, 1)], 50) == [f"{OFFSETS_TOPIC} (1 partitions)"]
    made = [topic("__transaction_state", 50), topic("__share_group_state", 1), topic("__persist", 3)]
    assert len(internal_faults(made, 50)) == 3
