"""The cuttable Kafka address: closed, a client cannot bootstrap; open, it reaches the real broker."""

import time

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from clickkit.gate import KafkaGate


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
