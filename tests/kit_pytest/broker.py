"""The session's real Kafka broker: the configured one, or a local one started when a selected test needs it."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from clickkit.broker.local import start_on_free_ports
from clickkit.config import load_settings

session_broker = None  # the LocalKafka this session started, if any


def needs_kafka(item) -> bool:
    """Tell whether a test needs the session broker: it asks for it, or it is a notebook cell."""
    return (
        bool({"bootstrap_servers", "topic"} & set(getattr(item, "fixturenames", ())))
        or type(item).__name__ == "IPyNbCell"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests that need the session broker `kafka`, so that `-m "not kafka"` runs without Java."""
    for item in items:
        if needs_kafka(item):
            item.add_marker(pytest.mark.kafka)


def pytest_collection_finish(session):
    """Start a local broker only when a selected test needs it, and before any notebook kernel starts."""
    global session_broker
    if session.config.option.collectonly or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return
    if not any(needs_kafka(item) for item in session.items):
        return
    # A broker that cannot start fails the run: KitError propagates and pytest exits non-zero.
    home = Path(tempfile.mkdtemp(prefix="clickkit-test-kafka-"))
    session_broker = start_on_free_ports(home, 1, load_settings().kafka_cache, timeout_s=180, attempts=3)
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = session_broker.bootstrap_servers


def pytest_runtest_setup(item):
    """Fail at once, with the broker's log, when the session broker has died."""
    if session_broker is not None and not session_broker.running():
        log = session_broker.nodes[0].log_file
        pytest.fail(f"The test broker is no longer running; its log is {log}.", pytrace=False)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Stop the broker this session started (after the topics plugin has looked at it), and remove its folder."""
    if session_broker is not None:
        session_broker.stop()
        shutil.rmtree(session_broker.home.parent, ignore_errors=True)  # start_on_free_ports' home: try-N under it


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    """Return the address of the real broker under test."""
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
