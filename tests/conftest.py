"""Fixtures for the reference endpoint, as flaskr has them: `app` configured for the test, `client` to call it.

Here rather than among the plugins of tests/kit_pytest/, which the student's release (without the reference
endpoint) loads too.
"""

import pytest

from clickkit import contract
from clickkit.ingest import app as ingest_app
from clickkit.ports import free_port


@pytest.fixture
def app(bootstrap_servers, topic):
    """Return the reference endpoint writing to the test's own topic on the broker under test."""
    app = ingest_app.create_app({"TESTING": True, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    yield app
    ingest_app.close_producer(app)


@pytest.fixture
def client(app):
    """Return a test client of `app`."""
    return app.test_client()


@pytest.fixture
def app_without_kafka():
    """Return the reference endpoint pointed at a port where nothing listens: for what it answers before Kafka."""
    app = ingest_app.create_app(
        {"TESTING": True, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "CLICKS_TOPIC": contract.TOPIC}
    )
    yield app
    ingest_app.close_producer(app)
