"""make doctor: each fault is injected, and its line says what is wrong and what to do."""

import errno
import os
import re
import socket
import subprocess
import sys

import pytest

from clickkit import doctor
from clickkit.config import REPO_ROOT, load_settings
from clickkit.ports import free_port, free_port_pair


def fake_tool(folder, name, script):
    """Put a shell script called `name` into `folder`, standing in for a real command."""
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return str(folder)


@pytest.fixture
def listening():
    """Return a port on which this test process listens, as another program would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port_pair()))
        sock.listen()
        yield sock.getsockname()[1]


def settings_for(bootstrap_servers, **ports):
    """Return settings with the given broker and free ports for the ingest API and JupyterLab."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "INGEST_PORT": str(free_port()),
        "JUPYTER_PORT": str(free_port()),
    }
    env.update({key: str(value) for key, value in ports.items()})
    return load_settings(env)


def test_python_too_old_says_how_to_get_a_newer_one():
    check = doctor.check_python((3, 9, 18), "/usr/bin/python3")
    assert not check.ok
    assert check.line().startswith("✗ Python 3.9.18 (/usr/bin/python3): the kit needs Python 3.11 or newer")
    assert "make setup PYTHON=python3.11" in check.text
    assert doctor.check_python().ok


def test_java_missing_or_too_old(tmp_path):
    missing = doctor.check_java(path=str(tmp_path))
    assert not missing.ok and "Java: not found on PATH" in missing.text and "openjdk-17-jre-headless" in missing.text
    old = doctor.check_java(path=fake_tool(tmp_path, "java", """echo 'openjdk version "11.0.22" 2024-01-16' >&2"""))
    assert not old.ok and old.text.startswith("Java 11.0.22") and "needs Java 17 or newer" in old.text
    assert doctor.java_major("1.8.0_292") == 8


def test_maven_missing_or_broken(tmp_path):
    missing = doctor.check_maven(path=str(tmp_path))
    assert not missing.ok and "Maven: not found on PATH" in missing.text and "apt-get install maven" in missing.text
    broken = doctor.check_maven(
        path=fake_tool(tmp_path, "mvn", "echo 'The JAVA_HOME environment variable is not defined correctly'; exit 1")
    )
    assert not broken.ok and "does not run: The JAVA_HOME environment variable" in broken.text


@pytest.mark.java
def test_java_and_maven_of_this_machine_are_reported_with_their_versions():
    java, maven = doctor.check_java(), doctor.check_maven()
    assert java.ok and re.match(r"Java \d+[\d.]* \(/", java.text), java.text
    assert maven.ok and re.match(r"Maven \d+\.\d+\.\d+ \(/", maven.text), maven.text


def test_docker_is_optional_and_a_stopped_engine_is_explained(tmp_path):
    absent = doctor.check_docker(path=str(tmp_path / "empty"))
    assert absent.ok and "Docker: not installed" in absent.text
    stopped = doctor.check_docker(
        path=fake_tool(
            tmp_path,
            "docker",
            """
case "$1" in
  --version) echo "Docker version 28.2.2, build e6534b4" ;;
  *) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1 ;;
esac""",
        )
    )
    assert stopped.ok and stopped.text.startswith("Docker 28.2.2")
    assert "engine does not answer" in stopped.text and "start Docker Desktop" in stopped.text
    assert stopped.line().startswith("! Docker")  # not a ✓: the engine does not work, though the kit needs none
    running = doctor.check_docker(
        path=fake_tool(
            tmp_path,
            "docker",
            """
case "$1" in --version) echo "Docker version 28.2.2, build e6534b4" ;; *) echo "28.2.2" ;; esac""",
        )
    )
    assert running.ok and running.text.startswith("Docker 28.2.2, engine 28.2.2")


@pytest.fixture
def quick(monkeypatch):
    """Wait less for an answer that never comes: only programs that are not Kafka are asked here."""
    monkeypatch.setattr(doctor, "NETWORK_TIMEOUT_S", 3.0)


def test_taken_ports_name_the_program_and_the_variable_to_change(listening, bootstrap_servers, quick):
    owner = f"pid {os.getpid()}"
    ingest = doctor.check_port(listening, "ingest API, INGEST_PORT", False, settings_for(bootstrap_servers))
    assert not ingest.ok and owner in ingest.text and "export INGEST_PORT=5001" in ingest.text
    jupyter = doctor.check_port(listening, "JupyterLab, JUPYTER_PORT", False, settings_for(bootstrap_servers))
    assert not jupyter.ok and owner in jupyter.text and "export JUPYTER_PORT=8899" in jupyter.text
    not_kafka = settings_for(f"localhost:{listening}")
    kafka = doctor.check_port(listening, "Kafka", True, not_kafka)
    assert not kafka.ok and "which is not a Kafka broker" in kafka.text and "KAFKA_BOOTSTRAP_SERVERS=" in kafka.text
    free = doctor.check_port(free_port_pair(), "Kafka", True, not_kafka)
    assert free.ok and free.text.endswith(": free")


def test_the_port_of_the_configured_broker_is_taken_by_kafka(bootstrap_servers):
    settings = settings_for(bootstrap_servers)
    if settings.kafka_is_local:
        check = doctor.check_port(settings.local_kafka_port, "Kafka", True, settings)
        assert check.ok and "which serves Kafka" in check.text
    else:  # inside the devcontainer: port 9092 here is not Kafka's, whatever holds it
        assert doctor.check_port(9092, "Kafka", True, settings).ok


def test_a_broker_that_is_not_there_says_how_to_start_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once the socket is closed
    reachable, listeners = doctor.check_broker(settings_for(dead))
    assert not reachable.ok and f"nothing listens at {dead}" in reachable.text and "make kafka-up" in reachable.text
    assert not listeners.ok and "not checked" in listeners.text
    unknown, _ = doctor.check_broker(settings_for("kafka.invalid:19092"))
    assert not unknown.ok and "the name kafka.invalid does not resolve here" in unknown.text
    assert "docker compose up -d kafka" in unknown.text


def test_ipv6_switched_off_as_in_docker_does_not_hide_what_the_ipv4_address_tells(listening, monkeypatch):
    real_connect = socket.create_connection

    def connect(address, *args, **kwargs):
        if address[0] == "::1":  # what a container without IPv6 answers, whether or not something listens
            raise OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(doctor.socket, "create_connection", connect)
    monkeypatch.setattr(doctor, "resolve", lambda host, port: ["::1", "127.0.0.1"])
    assert doctor.connect_problem("localhost", listening) == ""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # nothing listens once the socket is closed
    assert doctor.connect_problem("localhost", dead) == f"nothing listens at localhost:{dead} (::1, 127.0.0.1)"
    monkeypatch.setattr(doctor, "resolve", lambda host, port: ["::1"])
    assert doctor.connect_problem("localhost", dead).endswith(f"does not connect: {os.strerror(errno.EADDRNOTAVAIL)}")


def test_a_folder_the_student_cannot_write_to_says_how_to_build_with_their_id(tmp_path, monkeypatch):
    assert doctor.check_folder_writable().ok, "the checkout under test must be this user's"
    folder = tmp_path / "kit"
    folder.mkdir()
    folder.chmod(0o555)
    if os.getuid() == 0:  # root may write anywhere: answer as the kernel does for any other user
        monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)
    check = doctor.check_folder_writable(folder)
    assert not check.ok and f"belongs to user id {folder.stat().st_uid}, and you are {os.getuid()}" in check.text
    assert "STUDENT_UID=$(id -u) docker compose build workspace" in check.text


def test_something_that_is_not_kafka_on_the_broker_port_is_explained(listening, quick):
    reachable, _ = doctor.check_broker(settings_for(f"127.0.0.1:{listening}"))
    assert not reachable.ok and "does not answer as Kafka within 3 s" in reachable.text


def test_the_configured_broker_and_what_it_advertises_connect(bootstrap_servers):
    checks = doctor.check_broker(settings_for(bootstrap_servers))
    assert all(check.ok for check in checks), [check.line() for check in checks]
    assert "answers, a cluster of 1 broker(s)" in checks[0].text
    assert "resolves and connects from here" in checks[1].text


def test_kafka_python_missing_or_of_another_major_version():
    assert doctor.check_kafka_python(doctor.installed_kafka_python()).ok
    missing = doctor.check_kafka_python(None)
    assert not missing.ok and "not installed" in missing.text and "make setup" in missing.text
    old = doctor.check_kafka_python("2.0.2")
    assert not old.ok and "kafka-python 2.0.2: the kit is written for 3.x: run make setup" in old.text


def test_the_kafka_python_major_is_the_one_pyproject_pins():
    pinned = re.search(r'"kafka-python>=(\d+)\.\d+,<(\d+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert int(pinned.group(1)) == doctor.KAFKA_PYTHON_MAJOR == int(pinned.group(2)) - 1


def test_exit_status_is_the_verdict(bootstrap_servers, capsys):
    good = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "INGEST_PORT": str(free_port()),
        "JUPYTER_PORT": str(free_port()),
    }
    assert doctor.main(good) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.rstrip().endswith("All good.")
    assert doctor.main({**good, "KAFKA_BOOTSTRAP_SERVERS": "kafka.invalid:19092"}) == 1
    lines = capsys.readouterr().out.splitlines()
    assert all(line[:2] in {"✓ ", "✗ ", "! "} for line in lines[:-1]) and "2 problem(s)" in lines[-1]


def test_it_runs_before_make_setup_without_any_dependency(bootstrap_servers):
    # -S leaves out site-packages: the plain python3 `make doctor` falls back to before the set-up.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers}
    result = subprocess.run(
        [sys.executable, "-S", "-m", "clickkit.doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 1, result.stderr
    assert "✗ kafka-python: not installed" in result.stdout and "run make setup" in result.stdout
    assert "kafka-python is not installed: run make setup" in result.stdout
