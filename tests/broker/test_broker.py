"""The local broker: configuration, start, a second start, status and stop, against real Kafka."""

import socket
import subprocess
import sys

import pytest
from compose_topology import start_proxy
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from clickkit.broker import local as broker
from clickkit.broker.local import LocalKafka, Node
from clickkit.config import load_settings
from clickkit.errors import KitError
from clickkit.ports import free_port_pair

pytestmark = pytest.mark.kafka  # starts brokers of its own


def test_single_node_properties_use_kraft_without_zookeeper(tmp_path):
    node = Node(1, 29092, tmp_path)
    text = node.properties({"controller.quorum.bootstrap.servers": "127.0.0.1:29093"}, replication=1)
    assert "process.roles=broker,controller" in text
    assert "listeners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093" in text
    assert f"log.dirs={tmp_path / 'data'}" in text
    assert "zookeeper" not in text


def test_cluster_lists_every_voter(tmp_path):
    kafka = LocalKafka(tmp_path, [1000, 2000, 3000], tmp_path)
    assert kafka.quorum() == {"controller.quorum.voters": "1@127.0.0.1:1001,2@127.0.0.1:2001,3@127.0.0.1:3001"}
    assert kafka.bootstrap_servers == "localhost:1000,localhost:2000,localhost:3000"


def test_missing_java_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KitError, match="Java runtime, 17 or newer"):
        LocalKafka(tmp_path, [free_port_pair()], tmp_path).start()


def test_missing_maven_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KitError, match="Install Apache Maven"):
        broker.kafka_libs(tmp_path)


def test_port_in_use_is_reported(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(KitError, match=f"Port {port} is already in use"):
            LocalKafka(tmp_path, [port], load_settings().kafka_cache).start()


def run_cli(action, env):
    return subprocess.run(
        [sys.executable, "-m", "clickkit.broker", action], env=env, capture_output=True, text=True, timeout=240
    )


def test_cli_up_twice_status_and_down(tmp_path):
    port = free_port_pair()
    env = {**__import__("os").environ, "KAFKA_BOOTSTRAP_SERVERS": f"localhost:{port}", "KAFKA_HOME_DIR": str(tmp_path)}
    try:
        first = run_cli("up", env)
        assert first.returncode == 0, first.stderr
        assert f"started at localhost:{port}" in first.stdout
        second = run_cli("up", env)
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        status = run_cli("status", env)
        assert status.returncode == 0 and "produced and consumed" in status.stdout

        producer = KafkaProducer(bootstrap_servers=f"localhost:{port}", acks="all", max_block_ms=15000)
        sent = producer.send("cli-check", b"hello").get(timeout=15)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=f"localhost:{port}", consumer_timeout_ms=15000)
        partition = TopicPartition("cli-check", sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        assert next(iter(consumer)).value == b"hello"
        consumer.close()
    finally:
        down = run_cli("down", env)
    assert down.returncode == 0 and "Stopped" in down.stdout
    assert run_cli("status", env).returncode == 3
    assert "No local Kafka broker was running" in run_cli("down", env).stdout


def test_up_status_and_down_leave_a_broker_the_kit_did_not_start(bootstrap_servers, tmp_path):
    # Like docker compose's broker on the host: another program serves Kafka on a local port (a proxy to the
    # suite's broker, so that this holds inside the devcontainer too, where that broker is not local).
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    local = free_port_pair()
    proxy = start_proxy([], "127.0.0.1", local, host, int(port))
    try:
        address = f"localhost:{local}"
        env = {**__import__("os").environ, "KAFKA_BOOTSTRAP_SERVERS": address, "KAFKA_HOME_DIR": str(tmp_path)}
        up = run_cli("up", env)
        assert up.returncode == 0, up.stderr
        assert "did not start" in up.stdout and "will use it" in up.stdout
        status = run_cli("status", env)
        assert status.returncode == 0 and f"Kafka at {address} (KAFKA_BOOTSTRAP_SERVERS) answers" in status.stdout
        down = run_cli("down", env)
        assert down.returncode == 0 and "A broker the kit did not start still answers" in down.stdout
    finally:
        proxy.kill()
        proxy.wait(timeout=30)
    assert not (tmp_path / "single").exists()


def test_a_configured_broker_elsewhere_is_never_replaced_by_a_local_one(tmp_path):
    # Inside the devcontainer the broker is kafka:19092: the kit reports on it and starts no second one.
    env = {
        **__import__("os").environ,
        "KAFKA_BOOTSTRAP_SERVERS": "kafka.invalid:19092",
        "KAFKA_HOME_DIR": str(tmp_path),
    }
    status = run_cli("status", env)
    assert status.returncode == 3
    assert "No Kafka broker answers at kafka.invalid:19092 (KAFKA_BOOTSTRAP_SERVERS)" in status.stdout
    assert "docker compose up -d kafka" in status.stdout
    up = run_cli("up", env)
    assert up.returncode == 1 and "so it starts none here" in up.stderr and "docker compose ps" in up.stderr
    down = run_cli("down", env)
    assert down.returncode == 0 and "was not started by the kit, so it keeps running" in down.stdout
    assert not any(tmp_path.iterdir()), "a local broker was prepared for an address that is not this machine"
