"""Check a student's set-up: one line per check, ✓ or ✗ with what to do; exit non-zero when something is wrong."""

# Runs before `make setup` too, on whatever python3 is there: standard library only, until Kafka is asked.
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass

from clickkit.config import REPO_ROOT, load_settings
from clickkit.ports import port_is_open, port_owner

MIN_PYTHON = (3, 11)
MIN_JAVA = 17
KAFKA_PYTHON_MAJOR = 3  # as pyproject.toml pins it (tests keep the two in step)
NETWORK_TIMEOUT_S = 10.0
TOOL_TIMEOUT_S = 60.0
INSTALL_JAVA = (
    "install Java 17 or newer (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; "
    "macOS: brew install openjdk@17), or work in the devcontainer"
)
INSTALL_MAVEN = (
    "install Maven (Debian/Ubuntu: sudo apt-get install maven; macOS: brew install maven), or work in the devcontainer"
)


@dataclass(frozen=True)
class Check:
    """One line of the report: whether all is well, and what it says."""

    ok: bool
    text: str
    note: bool = False  # not a problem for the kit, but not working either: shown with "!", never with ✓

    def line(self) -> str:
        """Return the line as printed."""
        return f"{'!' if self.note else '✓' if self.ok else '✗'} {self.text}"


@dataclass(frozen=True)
class Tool:
    """What running a command's version option showed."""

    path: str | None  # None when the command is not on PATH
    version: str = ""
    runs: bool = False
    output: str = ""


def run_tool(name: str, args: list, pattern: str, path: str | None = None) -> Tool:
    """Find a command on PATH (or in `path`), run it, and pick its version out of the output."""
    found = shutil.which(name, path=path)
    if not found:
        return Tool(None)
    try:
        result = subprocess.run([found, *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Tool(found, output=str(error))
    output = (result.stdout + result.stderr).strip()
    match = re.search(pattern, output)
    return Tool(found, match.group(1) if match else "", result.returncode == 0, output)


def check_python(version=sys.version_info, executable: str = sys.executable) -> Check:
    """Check that the Python running the kit is new enough."""
    text = f"Python {'.'.join(str(part) for part in version[:3])} ({executable})"
    if tuple(version[:2]) >= MIN_PYTHON:
        return Check(True, text)
    return Check(
        False,
        f"{text}: the kit needs Python 3.11 or newer. Install it (Debian/Ubuntu: sudo apt-get "
        "install python3.11 python3.11-venv; macOS: brew install python@3.11), then: "
        "make setup PYTHON=python3.11",
    )


def java_major(version: str) -> int:
    """Return the major version of a Java version string ('17.0.2' is 17, the old '1.8.0_292' is 8)."""
    parts = [int(part) for part in re.findall(r"\d+", version)[:2]]
    return parts[1] if parts[:1] == [1] and len(parts) > 1 else (parts[0] if parts else 0)


def check_java(path: str | None = None) -> Check:
    """Check that Java 17 or newer is on PATH, as the kit's own broker needs it."""
    java = run_tool("java", ["-version"], r'version "([^"]+)"', path)
    if java.path is None:
        return Check(False, f"Java: not found on PATH. make kafka-up and make test run Kafka on it: {INSTALL_JAVA}")
    if not java.runs or java_major(java.version) < MIN_JAVA:
        shown = java.version or "of unknown version"
        return Check(
            False,
            f"Java {shown} ({java.path}): Kafka 4.1 needs Java 17 or newer: {INSTALL_JAVA}, and put it first on PATH",
        )
    return Check(True, f"Java {java.version} ({java.path})")


def check_maven(path: str | None = None) -> Check:
    """Check that Maven runs, as it fetches Kafka's jars the first time."""
    maven = run_tool("mvn", ["-v"], r"Apache Maven ([\d.]+)", path)
    if maven.path is None:
        return Check(False, f"Maven: not found on PATH. make kafka-up fetches Kafka with it once: {INSTALL_MAVEN}")
    if not maven.runs:
        first_line = maven.output.splitlines()[0] if maven.output else "no output"
        return Check(False, f"Maven ({maven.path}) does not run: {first_line}. Check JAVA_HOME, or reinstall Maven")
    return Check(True, f"Maven {maven.version} ({maven.path})")


def check_docker(path: str | None = None) -> Check:
    """Report Docker and whether its engine answers; the kit works without it, so only a note when it does not."""
    docker = run_tool("docker", ["--version"], r"Docker version ([^,\s]+)", path)
    if docker.path is None:
        return Check(
            True,
            "Docker: not installed, which is fine: the kit runs Kafka without it "
            "(the devcontainer and docker compose need it)",
        )
    engine = run_tool("docker", ["info", "--format", "{{.ServerVersion}}"], r"^(\S+)$", path)
    if engine.runs and engine.version:
        return Check(True, f"Docker {docker.version}, engine {engine.version} ({docker.path})")
    return Check(
        True,
        note=True,
        text=f"Docker {docker.version or '(version unknown)'} ({docker.path}); its engine does not answer: "
        "before docker compose or the devcontainer, start Docker Desktop (Linux: sudo systemctl start "
        "docker). The kit without Docker does not need it",
    )


def check_folder_writable(folder=REPO_ROOT) -> Check:
    """Check that this user may write into the kit's folder, where notebooks and the kit's state are saved."""
    if os.access(folder, os.W_OK):
        return Check(True, f"the kit's folder {folder}: yours to write")
    owner, me = os.stat(folder).st_uid, os.getuid()
    return Check(
        False,
        f"the kit's folder {folder} belongs to user id {owner}, and you are {me}: nothing can be saved "
        "there. In the devcontainer on Linux, build the workspace with your own id: on your machine "
        "run STUDENT_UID=$(id -u) docker compose build workspace, then docker compose up -d "
        "--force-recreate workspace (VS Code does this by itself, except for root). Elsewhere: "
        f"sudo chown -R $(id -u) {folder}",
    )


def installed_kafka_python() -> str | None:
    """Return the installed kafka-python version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kafka-python")
    except PackageNotFoundError:
        return None


def check_kafka_python(version: str | None) -> Check:
    """Check that kafka-python is installed in the version the kit is written for."""
    if version is None:
        return Check(False, f"kafka-python: not installed for {sys.executable}: run make setup")
    if not version.startswith(f"{KAFKA_PYTHON_MAJOR}."):
        return Check(
            False,
            f"kafka-python {version}: the kit is written for {KAFKA_PYTHON_MAJOR}.x: run make setup, "
            "which installs the version pyproject.toml names",
        )
    return Check(True, f"kafka-python {version}")


def resolve(host: str, port: int, timeout_s: float = NETWORK_TIMEOUT_S) -> list:
    """Return the addresses a host name resolves to, or raise OSError (name lookups can hang: bounded here)."""
    found = {}

    def lookup():
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found["addresses"] = sorted({info[4][0] for info in infos})
        except OSError as error:
            found["error"] = error

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "addresses" in found:
        return found["addresses"]
    raise found.get("error") or OSError(f"no answer within {timeout_s:.0f} s")


def connect_problem(host: str, port: int) -> str:
    """Say why host:port cannot be reached from here, or return ''."""
    try:
        addresses = resolve(host, port)
    except OSError:
        hint = (
            " 'kafka' is a name only the compose network knows: on your machine use localhost:9092"
            if host == "kafka"
            else ""
        )
        return f"the name {host} does not resolve here.{hint}"
    errors = []
    # Each address on its own: in a Docker container IPv6 is off, so ::1 fails with "Cannot assign requested
    # address" whether or not something listens, and only 127.0.0.1 tells.
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=NETWORK_TIMEOUT_S).close()
            return ""
        except OSError as error:
            errors.append(error)
    shown = f"{host}:{port} ({', '.join(addresses)})"
    if any(isinstance(error, ConnectionRefusedError) for error in errors):
        return f"nothing listens at {shown}"
    return f"{shown} does not connect: {errors[0].strerror or errors[0]}"


def advertised_brokers(bootstrap_servers: str, timeout_s: float | None = None) -> list:
    """Return the brokers as Kafka advertises them in its answer to the bootstrap address."""
    from clickkit.broker import topics  # imports kafka-python, which may not be installed yet

    return topics.advertised_brokers(bootstrap_servers, timeout_s or NETWORK_TIMEOUT_S)


def check_broker(settings) -> list:
    """Check that the configured broker answers, and that every address it advertises connects from here."""
    where = f"Kafka at {settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)"
    start = (
        "start it with make kafka-up (or docker compose up -d kafka)"
        if settings.kafka_is_local
        else "in the devcontainer it is the compose service 'kafka': on your machine run docker compose ps "
        "('kafka' must be healthy) and docker compose up -d kafka; elsewhere check the address"
    )
    skipped = Check(False, "advertised listeners: not checked, as no broker answers (fix the line above first)")
    for entry in settings.bootstrap_servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        problem = connect_problem(host.strip("[]"), int(port))
        if problem:
            return [Check(False, f"{where}: {problem}: {start}"), skipped]
    try:
        brokers = advertised_brokers(settings.bootstrap_servers)
    except ImportError:
        return [Check(False, f"{where}: not asked, as kafka-python is not installed: run make setup"), skipped]
    except Exception as error:  # whatever the client raises, the student needs the same advice
        return [
            Check(
                False,
                f"{where}: a program listens there but does not answer as Kafka within "
                f"{NETWORK_TIMEOUT_S:.0f} s ({error}): see which program on the port line above",
            ),
            skipped,
        ]
    checks = [Check(True, f"{where}: answers, a cluster of {len(brokers)} broker(s)")]
    for broker in brokers:
        problem = connect_problem(broker.host, broker.port)
        text = f"broker {broker.node_id} advertises {broker.host}:{broker.port}"
        if not problem:
            checks.append(Check(True, f"{text}: it resolves and connects from here"))
            continue
        checks.append(
            Check(
                False,
                f"{text}, but from here {problem}. Clients reach {settings.bootstrap_servers}, then "
                "fail on this address (KafkaTimeoutError). Use the listener meant for where you "
                "are: on your machine localhost:9092, inside the devcontainer kafka:19092; or "
                "correct KAFKA_ADVERTISED_LISTENERS in docker-compose.yml",
            )
        )
    return checks


def check_port(port: int, role: str, kafka_port: bool, settings) -> Check:
    """Say whether a port the kit uses is free, or which program has it and what to do."""
    if not port_is_open(port):
        return Check(True, f"port {port} ({role}): free")
    owner = port_owner(port)
    taken = f"port {port} ({role}): taken by {owner}"
    if kafka_port:
        if not settings.kafka_is_local:
            return Check(True, f"{taken}; not in the way, as Kafka is at {settings.bootstrap_servers}")
        if owner.startswith(("a Kafka broker", "Docker")) or kafka_answers(f"localhost:{port}"):
            return Check(True, f"{taken}, which serves Kafka")
        return Check(
            False,
            f"{taken}, which is not a Kafka broker: stop it, or give the kit another port: "
            "export KAFKA_BOOTSTRAP_SERVERS=localhost:19092",
        )
    if role.startswith("JupyterLab") and "jupyter" in owner.lower():
        return Check(True, f"{taken}: a JupyterLab runs already; see its URL with: jupyter server list")
    variable, other = ("INGEST_PORT", 5001) if role.startswith("ingest") else ("JUPYTER_PORT", 8899)
    mac = " (on macOS port 5000 is the AirPlay Receiver)" if variable == "INGEST_PORT" else ""
    return Check(False, f"{taken}{mac}: stop it, or use another port: export {variable}={other}")


def kafka_answers(bootstrap_servers: str) -> bool:
    """Tell whether Kafka answers a bootstrap at the address."""
    try:
        return bool(advertised_brokers(bootstrap_servers, timeout_s=NETWORK_TIMEOUT_S / 2))
    except Exception:  # kafka-python missing, or no Kafka there: either way, not a broker the kit can use
        return False


def run_checks(settings):
    """Yield every check, in the order the report prints them."""
    yield check_python()
    yield check_folder_writable()
    yield check_java()
    yield check_maven()
    yield check_docker()
    kafka_port = settings.local_kafka_port if settings.kafka_is_local else 9092
    yield check_port(kafka_port, "Kafka", True, settings)
    yield check_port(settings.ingest_port, "ingest API, INGEST_PORT", False, settings)
    yield check_port(settings.jupyter_port, "JupyterLab, JUPYTER_PORT", False, settings)
    yield from check_broker(settings)
    yield check_kafka_python(installed_kafka_python())


def main(env=None) -> int:
    """Print the report; return 1 when a check failed."""
    failed = 0
    for check in run_checks(load_settings(env)):
        print(check.line(), flush=True)
        failed += not check.ok
    if failed:
        print(f"{failed} problem(s): fix the ✗ lines above, then run make doctor again.")
        return 1
    print("All good.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
