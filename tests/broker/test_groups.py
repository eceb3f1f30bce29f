"""A consumer group watched from outside: committed offsets and lag, on a real broker, without joining the group."""

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from clickkit.broker.groups import LagWatch
from clickkit.broker.topics import admin
from clickkit.errors import UnknownTopic


def produce(bootstrap_servers, topic, count):
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, bootstrap_timeout_ms=10000)
    try:
        for number in range(count):
            producer.send(topic, str(number).encode())
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def read_and_commit(bootstrap_servers, topic, group, how_many):
    """Join the group, read `how_many` records, commit them, leave."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap_servers, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, request_timeout_ms=10000)
    try:
        read = 0
        for _ in range(60):  # each poll waits at most 0.5 s: 30 s in all
            batches = consumer.poll(timeout_ms=500, max_records=how_many - read)
            read += sum(len(records) for records in batches.values())
            if read == how_many:
                break
        assert read == how_many
        consumer.commit()
    finally:
        consumer.close()


def test_a_new_group_lags_by_the_whole_topic_then_by_what_it_has_not_committed(bootstrap_servers, topic):
    produce(bootstrap_servers, topic, 30)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    watch = LagWatch(bootstrap_servers, topic, group)
    try:
        assert (watch.committed(), watch.end(), watch.lag()) == ({}, {0: 30}, 30)
        read_and_commit(bootstrap_servers, topic, group, 12)
        assert (watch.committed(), watch.lag()) == ({0: 12}, 18)
        produce(bootstrap_servers, topic, 5)
        assert watch.lag() == 23  # the end moved on; the group did not
        other = LagWatch(bootstrap_servers, topic, f"{group}-other")
        try:
            assert other.lag() == 35  # each group has its own offsets
        finally:
            other.close()
    finally:
        watch.close()
        with admin(bootstrap_servers) as client:  # on a broker the suite did not start, leave no group behind
            client.delete_groups([group])
    watch.close()  # closing twice does nothing


def test_watching_a_missing_topic_says_so(bootstrap_servers, topic_prefix):
    with pytest.raises(UnknownTopic, match="does not exist"):
        LagWatch(bootstrap_servers, f"{topic_prefix}missing-{uuid.uuid4().hex[:8]}", "any-group")
