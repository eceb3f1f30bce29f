"""Ask a Kafka broker whether it really works: create a topic, produce, consume."""

import time
import uuid

from kafka.errors import KafkaError

from clickkit.broker import topics
from clickkit.errors import BrokerNotReady, UnknownTopic
from clickkit.ports import any_accepts

PROBE_TOPIC = "_kit_health"


def roundtrip(bootstrap_servers: str, timeout_s: float = 15.0) -> None:
    """Create the probe topic, produce one message and read it back, or raise."""
    topics.ensure_topic(bootstrap_servers, PROBE_TOPIC, timeout_s=timeout_s)
    token = uuid.uuid4().hex.encode()
    producer = topics.producer(bootstrap_servers, timeout_s)
    try:
        sent = producer.send(PROBE_TOPIC, token).get(timeout=timeout_s)
    finally:
        producer.close(timeout=5)
    records = topics.records_since(bootstrap_servers, PROBE_TOPIC, {sent.partition: sent.offset}, timeout_s)
    if not any(record.value == token for record in records):
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
        except (KafkaError, BrokerNotReady, UnknownTopic, OSError, ValueError) as error:
            last_error = error
            time.sleep(0.5)
    raise BrokerNotReady(f"no working broker at {bootstrap_servers} after {timeout_s:.0f}s: {last_error!r}")


def is_ready(bootstrap_servers: str, timeout_s: float = 5.0) -> bool:
    """Tell whether a working broker answers at the address, within the timeout."""
    if not any_accepts(bootstrap_servers, timeout_s):
        return False  # at once, instead of kafka-python's retries until the timeout
    try:
        roundtrip(bootstrap_servers, timeout_s=timeout_s)
        return True
    except (KafkaError, BrokerNotReady, UnknownTopic, OSError, ValueError):
        return False


def wait_for_brokers(bootstrap_servers: str, count: int, timeout_s: float, alive=lambda: True) -> None:
    """Wait until `count` brokers have registered with the cluster, or raise BrokerNotReady."""
    deadline = time.monotonic() + timeout_s
    registered = 0
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerNotReady("a broker process exited during start-up")
        try:
            registered = topics.registered_brokers(bootstrap_servers, timeout_s=5.0)
        except (KafkaError, OSError):
            pass
        if registered >= count:
            return
        time.sleep(0.5)
    raise BrokerNotReady(f"only {registered} of {count} brokers registered at {bootstrap_servers} in {timeout_s:.0f}s")
