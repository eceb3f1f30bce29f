"""Ask a Kafka broker whether it really works: create a topic, produce, consume."""

import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from clickkit.errors import BrokerNotReady

PROBE_TOPIC = "_kit_health"



def roundtrip(bootstrap_servers: str, timeout_s: float = 15.0) -> None:
    """Create the probe topic, produce one message and read it back, or raise."""
    ms = int(timeout_s * 1000)
    # kafka-python waits 30 s for a first connection unless told otherwise.
    common = {"bootstrap_servers": bootstrap_servers, "request_timeout_ms": ms, "bootstrap_timeout_ms": ms}
    admin = KafkaAdminClient(**common)
    try:
        try:
            admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)], timeout_ms=ms)
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()
    token = uuid.uuid4().hex.encode()
    producer = KafkaProducer(acks="all", max_block_ms=ms, **common)
    try:
        sent = producer.send(PROBE_TOPIC, token).get(timeout=timeout_s)
    finally:
        producer.close(timeout=5)
    partition = TopicPartition(PROBE_TOPIC, sent.partition)
    consumer = KafkaConsumer(consumer_timeout_ms=ms, **common)
    try:
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        for record in consumer:
            if record.value == token:
                return
    finally:
        consumer.close()
    raise BrokerNotReady(f"the probe message did not come back from {bootstrap_servers}")


def wait_until_ready(bootstrap_servers: str, timeout_s: float = 90.0, alive=lambda: True) -> None:
    """Retry the round trip until it succeeds, the deadline passes, or `alive()` says the broker died."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerNotReady("the broker process exited during start-up")
        try:
            roundtrip(bootstrap_servers, timeout_s=min(15.0, max(1.0, deadline - time.monotonic())))
            return
        except (KafkaError, BrokerNotReady, OSError, ValueError) as error:
            last_error = error
            time.sleep(0.5)
    raise BrokerNotReady(f"no working broker at {bootstrap_servers} after {timeout_s:.0f}s: {last_error!r}")


def is_ready(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """Tell whether a working broker answers at the address, within the timeout."""
    try:
        roundtrip(bootstrap_servers, timeout_s=timeout_s)
        return True
    except (KafkaError, BrokerNotReady, OSError, ValueError):
        return False


def wait_for_brokers(bootstrap_servers: str, count: int, timeout_s: float, alive=lambda: True) -> None:
    """Wait until `count` brokers have registered with the cluster, or raise BrokerNotReady."""
    deadline = time.monotonic() + timeout_s
    registered = 0
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerNotReady("a broker process exited during start-up")
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000,
                                     bootstrap_timeout_ms=5000)
            try:
                brokers = admin.describe_cluster()["brokers"]
                registered = sum(1 for broker in brokers if not broker.get("is_fenced"))
            finally:
                admin.close()
        except (KafkaError, OSError):
            pass
        if registered >= count:
            return
        time.sleep(0.5)
    raise BrokerNotReady(f"only {registered} of {count} brokers registered at {bootstrap_servers} in {timeout_s:.0f}s")
