"""Read docker-compose.yml the way Docker Compose does, for the tests that check it without Docker."""

import re
from pathlib import Path

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}")


def load_compose() -> dict:
    """Return docker-compose.yml as a dict."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def expand(text: str) -> str:
    """Replace ${NAME:-default} with its default, as compose does when NAME is unset."""
    expanded = VARIABLE.sub(lambda match: match.group(2), text)
    assert "$" not in expanded, f"only ${{NAME:-default}} is used in docker-compose.yml: {text!r}"
    return expanded


def environment(service: dict) -> dict:
    """Return a service's environment with compose's defaults filled in."""
    return {key: expand(str(value)) for key, value in service.get("environment", {}).items()}


def listeners(value: str) -> dict:
    """Parse 'NAME://host:port,...' into {NAME: (host, port)}."""
    parsed = {}
    for entry in value.split(","):
        name, _, address = entry.partition("://")
        host, _, port = address.rpartition(":")
        parsed[name] = (host, int(port))
    return parsed


def published_ports(service: dict) -> list:
    """Return (host_ip, host_port, container_port) for each published port, short or long syntax."""
    ports = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.append((entry.get("host_ip", ""), int(expand(str(entry["published"]))), int(entry["target"])))
        else:
            parts = expand(str(entry)).split(":")
            assert len(parts) == 3, f"publish ports as HOST_IP:HOST_PORT:CONTAINER_PORT, not {entry!r}"
            ports.append((parts[0], int(parts[1]), int(parts[2])))
    return ports
