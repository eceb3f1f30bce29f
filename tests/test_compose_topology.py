"""docker-compose.yml's Kafka, run without Docker: each listener works from where it is meant to be used.

A change to the compose file that breaks a listener, the advertised addresses or the published port fails here.
"""

import uuid

import pytest
from compose_file import environment, load_compose, published_ports
from compose_topology import compose_topology, tool

from clickkit.config import load_settings

pytestmark = pytest.mark.kafka  # starts a broker of its own

COMPOSE = load_compose()
# Where code finds Kafka: inside the workspace container, and on the host machine (the kit's default).
WORKSPACE_ADDRESS = environment(COMPOSE["services"]["workspace"])["KAFKA_BOOTSTRAP_SERVERS"]
HOST_ADDRESS = load_settings({}).bootstrap_servers


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Start the compose project's broker (or, inside the devcontainer, find it) and tear it down afterwards."""
    topology = compose_topology(tmp_path_factory.mktemp("compose"))
    topology.start(WORKSPACE_ADDRESS)
    yield topology
    topology.stop()


def test_host_and_workspace_listeners_carry_the_same_topic(project, topic_prefix):
    topic = f"{topic_prefix}compose-{uuid.uuid4().hex[:8]}"
    from_host, from_workspace = f"from-host-{uuid.uuid4().hex}", f"from-workspace-{uuid.uuid4().hex}"
    steps = [
        (project.host, "produce", HOST_ADDRESS, from_host),
        (project.workspace, "consume", WORKSPACE_ADDRESS, from_host),
        (project.workspace, "produce", WORKSPACE_ADDRESS, from_workspace),
        (project.host, "consume", HOST_ADDRESS, from_workspace),
    ]
    with project.published():
        for side, command, address, token in steps:
            result = tool(side, command, address, topic, token)
            assert result.returncode == 0, f"{command} through {address} failed:\n{result.stdout}{result.stderr}"


def test_in_the_workspace_the_broker_commands_use_the_compose_broker(project, tmp_path):
    env = {"KAFKA_BOOTSTRAP_SERVERS": WORKSPACE_ADDRESS, "KAFKA_HOME_DIR": str(tmp_path / "kit")}
    status = tool(project.workspace, "-m", "clickkit.broker", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"Kafka at {WORKSPACE_ADDRESS} (KAFKA_BOOTSTRAP_SERVERS), not started by the kit, answers" in status.stdout
    up = tool(project.workspace, "-m", "clickkit.broker", "up", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"Kafka answers at {WORKSPACE_ADDRESS}" in up.stdout and "starts no broker of its own" in up.stdout
    assert not (tmp_path / "kit").exists(), "make kafka-up prepared a second broker in the workspace"


def test_doctor_follows_the_advertised_listeners(project):
    inside = tool(project.workspace, "-m", "clickkit.doctor", env={"KAFKA_BOOTSTRAP_SERVERS": WORKSPACE_ADDRESS})
    assert f"✓ Kafka at {WORKSPACE_ADDRESS} (KAFKA_BOOTSTRAP_SERVERS): answers" in inside.stdout, inside.stdout
    assert f"✓ broker 1 advertises {WORKSPACE_ADDRESS}: it resolves and connects from here" in inside.stdout
    # The classic trap: in the workspace, the host's listener answers by the service name, then sends the
    # client to the address it advertises for the host, where nothing listens in the workspace.
    trap_address = f"kafka:{published_ports(COMPOSE['services']['kafka'])[0][2]}"
    trap = tool(project.workspace, "-m", "clickkit.doctor", env={"KAFKA_BOOTSTRAP_SERVERS": trap_address})
    assert trap.returncode == 1, trap.stdout
    assert f"✓ Kafka at {trap_address} (KAFKA_BOOTSTRAP_SERVERS): answers" in trap.stdout
    assert f"✗ broker 1 advertises {HOST_ADDRESS}, but from here nothing listens at {HOST_ADDRESS}" in trap.stdout
    with project.published():
        host = tool(project.host, "-m", "clickkit.doctor", env={"KAFKA_BOOTSTRAP_SERVERS": HOST_ADDRESS})
    assert f"✓ broker 1 advertises {HOST_ADDRESS}: it resolves and connects from here" in host.stdout, host.stdout
