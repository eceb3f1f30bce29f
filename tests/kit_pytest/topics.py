"""The suite's topics: each test its own, under one prefix, deleted at the end from a broker the suite did not start."""

import os
import uuid

import pytest

from clickkit import contract
from clickkit.broker.topics import create_topic, delete_topics_with_prefix
from clickkit.ports import free_port_pair
from kit_pytest import broker

# Every topic the suite makes starts with this, so that on a student's broker it can delete them all afterwards.
TEST_TOPIC_PREFIX = f"clickkit-test-{uuid.uuid4().hex[:8]}-"


def pytest_sessionstart(session):
    """Give notebooks a free port and a topic of the suite's own: never a student's port 5000 or clicks."""
    if not session.config.option.collectonly:
        os.environ.setdefault("INGEST_PORT", str(free_port_pair()))
        # Notebooks and the grader write to CLICKS_TOPIC: under test a topic of the suite's, never the student's clicks.
        os.environ["CLICKS_TOPIC"] = TEST_TOPIC_PREFIX + contract.TOPIC


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Delete the suite's topics from a broker it did not start; fail the run when that fails."""
    if (
        broker.session_broker is None
        and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        and not session.config.option.collectonly
        and not delete_test_topics()
    ):
        session.exitstatus = 1


def delete_test_topics() -> bool:
    """Delete every topic the suite made on a broker it did not start; say what to do when that fails."""
    bootstrap_servers = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    try:
        delete_topics_with_prefix(bootstrap_servers, TEST_TOPIC_PREFIX)
        return True
    except Exception as error:  # any failure here must fail the run, never pass unnoticed
        print(
            f"\nFAILED: the suite could not delete its topics {TEST_TOPIC_PREFIX}* on {bootstrap_servers}: "
            f'{error!r}. Once the broker answers, delete them with: python -c "from clickkit.broker.topics '
            f"import delete_topics_with_prefix as d; d('{bootstrap_servers}', '{TEST_TOPIC_PREFIX}')\" "
            "(with the kit's virtual environment's python)"
        )
        return False


@pytest.fixture(scope="session")
def topic_prefix() -> str:
    """Return the prefix of every topic the suite makes, deleted at the end on a broker it did not start."""
    return TEST_TOPIC_PREFIX


@pytest.fixture
def topic(request, bootstrap_servers, topic_prefix) -> str:
    """Create a fresh topic named after the test, so tests never see each other's data."""
    name = f"{topic_prefix}{request.node.name[:80]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)
    return create_topic(bootstrap_servers, name)
