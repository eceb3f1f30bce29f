"""Kafka down at start and mid-run: a 503 with Retry-After, recovery by itself, no acknowledged event lost."""

import pytest

from clickkit.broker.local import LocalKafka
from clickkit.config import load_settings
from clickkit.ports import free_port_pair
from clickkit.reliability.scenarios import outage_scenarios

pytestmark = pytest.mark.kafka  # starts brokers of its own


@pytest.fixture
def own_broker(tmp_path):
    """A broker of this test's own, never the session's, so it can be crashed and restarted."""
    kafka = LocalKafka(tmp_path / "kafka", [free_port_pair()], load_settings().kafka_cache)
    yield kafka
    kafka.stop()


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_the_endpoint_answers_503_while_kafka_is_down_and_recovers_without_losing_events(own_broker):
    at_start, mid_run = outage_scenarios(own_broker)  # starts Kafka late, then kills and restarts it
    for tally in (at_start, mid_run):
        print(tally.scenario, tally.row(), tally.facts)
        # Every 5xx was a 503 with Retry-After and a JSON message; none took the 30 s hang guard.
        assert tally.problems == []
        assert set(tally.statuses) <= {200, 503}
        assert tally.count(500) >= 3, "the outage was not seen"
        assert len(tally.acknowledged) >= 20, "the endpoint did not recover"
        assert tally.acknowledged_missing == 0
        assert tally.duplicates == 0
    assert own_broker.running(), "the scenario leaves Kafka running after the restart"
