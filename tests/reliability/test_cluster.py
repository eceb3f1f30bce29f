"""A three-broker KRaft cluster: RF 3, min.insync.replicas 2, the leader killed while clicks flow."""

import pytest

from clickkit.config import load_settings
from clickkit.reliability.scenarios import cluster_scenario, start_cluster

pytestmark = pytest.mark.kafka  # starts brokers of its own


@pytest.fixture
def cluster(tmp_path):
    """Three brokers on free ports (make cluster-up keeps the fixed ones) from the Maven-fetched Kafka."""
    kafka = start_cluster(tmp_path / "cluster", load_settings().kafka_cache)
    yield kafka
    kafka.stop()


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_killing_the_leader_loses_and_duplicates_no_acknowledged_click(cluster):
    assert "controller.quorum.voters" in (cluster.nodes[0].home / "server.properties").read_text()
    tally = cluster_scenario(cluster)
    print(tally.row(), tally.facts)
    assert tally.facts["topic"]["replicas"] == [3]
    assert tally.facts["topic"]["min.insync.replicas"] == "2"
    assert len(cluster.running()) == 2, "one broker was killed"
    assert tally.problems == []
    assert len(tally.acknowledged) >= 90, "the endpoint did not keep going on two brokers"
    assert tally.acknowledged_missing == 0
    assert tally.duplicates == 0
