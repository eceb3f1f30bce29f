"""Configuration: one reader of the environment, with defaults that work on a fresh machine."""

from clickkit.config import load_settings


def test_defaults():
    settings = load_settings({})
    assert settings.bootstrap_servers == "localhost:9092"
    assert settings.ingest_url == "http://localhost:5000/clicks"
    assert settings.topic == "clicks"
    assert settings.local_kafka_port == 9092 and settings.kafka_is_local


def test_the_local_broker_follows_the_bootstrap_port():
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092", "INGEST_PORT": "5001"})
    assert settings.local_kafka_port == 19092
    assert settings.ingest_url == "http://localhost:5001/clicks"


def test_a_remote_cluster_is_not_local():
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "kafka-1.example:9092,kafka-2.example:9092"})
    assert not settings.kafka_is_local
    assert settings.local_kafka_port == 9092


def test_the_producers_linger_comes_from_the_environment_only_when_set():
    assert load_settings({}).linger_ms is None
    assert load_settings({"CLICKKIT_LINGER_MS": "0"}).linger_ms == 0
    assert load_settings({"CLICKKIT_LINGER_MS": "5"}).linger_ms == 5


def test_the_readmes_configuration_table_names_every_variable_the_kit_reads():
    import re

    from clickkit import config

    source = open(config.__file__, encoding="utf-8").read()
    read = set(re.findall(r"env(?:\.get\(|\[)\"([A-Z_]+)\"", source))
    readme = (config.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert len(read) >= 9
    assert sorted(name for name in read if f"`{name}`" not in table) == []
