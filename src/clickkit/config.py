"""The one place that reads the kit's environment variables."""

import os
from dataclasses import dataclass
from pathlib import Path

from clickkit import contract

# The repository root when the kit is installed in development mode (pip install -e .).
REPO_ROOT = Path(__file__).resolve().parents[2]

CLICKS_TOPIC = contract.TOPIC
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Settings:
    """Where Kafka, the endpoint and the kit's local files are."""

    bootstrap_servers: str
    ingest_url: str
    ingest_port: int
    topic: str
    kafka_home: Path
    kafka_cache: Path
    jupyter_ip: str
    jupyter_port: int
    linger_ms: int | None = None  # the reference endpoint's producer; None keeps make_producer's

    @property
    def local_kafka_port(self) -> int:
        """Return the port a local broker should listen on, taken from the bootstrap address."""
        host, _, port = self.bootstrap_servers.split(",")[0].rpartition(":")
        if host.strip("[]") in LOCAL_HOSTS and port.isdigit():
            return int(port)
        return 9092

    @property
    def kafka_is_local(self) -> bool:
        """Tell whether the bootstrap address points at this machine."""
        hosts = {entry.rpartition(":")[0].strip("[]") for entry in self.bootstrap_servers.split(",")}
        return hosts <= LOCAL_HOSTS


def load_settings(env=None) -> Settings:
    """Read the settings from the environment (or from a dict, in tests)."""
    env = os.environ if env is None else env
    ingest_port = int(env.get("INGEST_PORT", "5000"))
    return Settings(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or "localhost:9092",
        ingest_url=env.get("INGEST_URL") or f"http://localhost:{ingest_port}{contract.PATH}",
        ingest_port=ingest_port,
        topic=env.get("CLICKS_TOPIC") or CLICKS_TOPIC,
        kafka_home=Path(env.get("KAFKA_HOME_DIR") or REPO_ROOT / ".kit" / "kafka"),
        kafka_cache=Path(env.get("KAFKA_CACHE_DIR") or Path.home() / ".cache" / "clickkit"),
        # The devcontainer sets 0.0.0.0 so VS Code can forward the port; elsewhere stay on loopback.
        jupyter_ip=env.get("JUPYTER_IP") or "127.0.0.1",
        jupyter_port=int(env.get("JUPYTER_PORT", "8888")),
        linger_ms=int(env["CLICKKIT_LINGER_MS"]) if env.get("CLICKKIT_LINGER_MS") else None,
    )
