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
