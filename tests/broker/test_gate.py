"""The cuttable Kafka address: closed, a client cannot bootstrap; open, it reaches the real broker."""

import time

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from clickkit.broker.gate import KafkaGate
from clickkit.config import REPO_ROOT


def test_a_closed_gate_refuses_and_an_open_one_reaches_the_broker(bootstrap_servers, topic):
    gate = KafkaGate(bootstrap_servers)
    started = time.monotonic()
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=gate.address, bootstrap_timeout_ms=2000)
    assert time.monotonic() - started < 30
    gate.open()
    try:
        producer = KafkaProducer(bootstrap_servers=gate.address, bootstrap_timeout_ms=10000)
        metadata = producer.send(topic, b"through the gate").get(timeout=30)
        producer.close(timeout=10)
        assert metadata.topic == topic and metadata.offset == 0
    finally:
        gate.close()
    assert not gate.is_open


def test_the_error_a_student_sees_without_a_broker_is_the_one_the_docs_name():
    gate = KafkaGate("localhost:9092")  # closed: nothing listens at its address
    with pytest.raises(KafkaError) as raised:
        KafkaProducer(bootstrap_servers=gate.address, bootstrap_timeout_ms=1000)
    assert type(raised.value).__name__ == "KafkaTimeoutError"
    assert "KafkaTimeoutError: Unable to bootstrap from" in str(raised.value), str(raised.value)
    for doc in ("README.md", "docs/setup.md"):
        assert "`KafkaTimeoutError: Unable to bootstrap from" in (REPO_ROOT / doc).read_text(encoding="utf-8"), doc
