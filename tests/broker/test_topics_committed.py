"""Reading a topic back counts only committed records: never those of a transaction aborted or still open."""

import uuid

from kafka import KafkaProducer

from clickkit.broker.topics import end_offsets, read_to_end_since


def transactional_producer(bootstrap_servers: str) -> KafkaProducer:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, transactional_id=f"test-{uuid.uuid4().hex}", request_timeout_ms=15000
    )
    producer.init_transactions()
    return producer


def in_transaction(producer: KafkaProducer, topic: str, values: list) -> list:
    """Send the values in a new transaction, left open; return where each was stored."""
    producer.begin_transaction()
    sent = [producer.send(topic, value) for value in values]
    producer.flush()
    return [future.get(timeout=15) for future in sent]


def test_records_of_aborted_and_open_transactions_are_not_read_back(bootstrap_servers, topic):
    since = end_offsets(bootstrap_servers, topic)
    producer = transactional_producer(bootstrap_servers)
    try:
        stored = in_transaction(producer, topic, [b"committed 1", b"committed 2"])
        producer.commit_transaction()
        in_transaction(producer, topic, [b"aborted"])
        producer.abort_transaction()
        records, complete, _ = read_to_end_since(bootstrap_servers, topic, since)
        assert complete
        assert [(r.value, r.partition, r.offset) for r in records] == [
            (b"committed 1", stored[0].partition, stored[0].offset),
            (b"committed 2", stored[1].partition, stored[1].offset),
        ]

        in_transaction(producer, topic, [b"never committed"])
        records, complete, _ = read_to_end_since(bootstrap_servers, topic, since, timeout_s=30)
        assert complete  # the open transaction ends the read where it began, and does not stall it
        assert [r.value for r in records] == [b"committed 1", b"committed 2"]
        producer.abort_transaction()
    finally:
        producer.close(timeout=5)
