"""docker-compose.yml, .devcontainer/ and docs/setup.md, checked without a Docker engine."""

import json
import re
import shlex
import socket
import subprocess
import zipfile

import pytest
import yaml
from compose_file import COMPOSE_FILE, environment, listeners, load_compose, published_ports

from clickkit.broker.local import BROKER_SETTINGS, KAFKA_VERSION, Node, for_settings, kafka_libs
from clickkit.config import REPO_ROOT, load_settings

DEVCONTAINER_DIR = REPO_ROOT / ".devcontainer"
SETUP_DOC = REPO_ROOT / "docs" / "setup.md"
# The image's KAFKA_* variables that configure the JVM rather than the broker.
JVM_VARIABLES = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_LOG4J_OPTS"}
# What the scripts in /opt/kafka/bin of the apache/kafka image run (bin/<script> -> kafka-run-class.sh <class>).
KAFKA_SCRIPT_CLASSES = {"kafka-topics.sh": "org.apache.kafka.tools.TopicCommand"}
ENV_PREFIX = r"[A-Z_]+=(?:\$\([^)]*\)|\S+) "


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def devcontainer() -> dict:
    return json.loads((DEVCONTAINER_DIR / "devcontainer.json").read_text())


def broker_properties(service: dict) -> dict:
    """Return the broker settings the apache/kafka image derives from KAFKA_* variables."""
    settings = {}
    for key, value in environment(service).items():
        if key.startswith("KAFKA_") and key not in JVM_VARIABLES:
            # The image's rule: ___ stands for '-', __ for '_', and _ for '.'.
            name = key[len("KAFKA_") :].lower().replace("___", "-").replace("__", "\0").replace("_", ".")
            settings[name.replace("\0", "_")] = value
    return settings


def test_both_files_parse_and_every_service_is_there(compose, devcontainer):
    assert set(compose["services"]) == {"kafka", "workspace", "kafka-ui"}
    assert compose["services"]["kafka-ui"]["profiles"] == ["ui"]
    assert devcontainer["service"] in compose["services"]
    assert set(devcontainer["runServices"]) == {"kafka", "workspace"}
    assert (DEVCONTAINER_DIR / devcontainer["dockerComposeFile"][0]).resolve() == COMPOSE_FILE
    text = yaml.safe_dump(compose).lower()  # the settings, not the comments
    assert "zookeeper" not in text and "bitnami" not in text and "provectus" not in text


def test_every_published_port_is_on_loopback(compose):
    published = [port for service in compose["services"].values() for port in published_ports(service)]
    assert len(published) == 3
    assert {host_ip for host_ip, _, _ in published} == {"127.0.0.1"}


def test_images_are_pinned_and_kafka_matches_the_local_broker(compose):
    images = [service["image"] for service in compose["services"].values() if "image" in service]
    dockerfile = (REPO_ROOT / compose["services"]["workspace"]["build"]["dockerfile"]).read_text()
    images += re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert len(images) == 3
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and re.match(r"v?\d+\.\d+\.\d+", tag), f"{image} is not pinned to a full version"
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert any(image.startswith("ghcr.io/kafbat/kafka-ui:") for image in images)


def test_workspace_python_satisfies_the_kit():
    dockerfile = (DEVCONTAINER_DIR / "Dockerfile").read_text()
    major, minor = map(int, re.search(r"^FROM python:(\d+)\.(\d+)\.", dockerfile, re.MULTILINE).groups())
    required = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert (major, minor) >= tuple(map(int, required.groups()))
    # The brokers `make test` starts need Java 17+ and Maven in the workspace too.
    java = re.search(r"apt-get install .*openjdk-(\d+)-jre-headless maven", dockerfile)
    assert java and int(java.group(1)) >= 17


def test_workspace_has_what_make_test_needs_without_sudo():
    # What tests/browser/install.sh would install with apt-get: the workspace has no sudo, so the image has it.
    needed = re.findall(r"packages\+=\((\w+)\)", (REPO_ROOT / "tests" / "browser" / "install.sh").read_text())
    installed = re.search(r"apt-get install (.*?)\n\s*&&", (DEVCONTAINER_DIR / "Dockerfile").read_text(), re.DOTALL)
    assert set(needed) == {"chromium", "nodejs", "npm"} and set(needed) <= set(installed.group(1).split())


def test_documented_images_are_the_ones_in_use(compose):
    dockerfile = (DEVCONTAINER_DIR / "Dockerfile").read_text()
    images = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    images += [service["image"] for service in compose["services"].values() if "image" in service]
    documented = set(re.findall(r"^\| `([\w./-]+:[\w.-]+)` \|", SETUP_DOC.read_text(), re.MULTILINE))
    assert documented == set(images)
    assert "Updating the workspace image" in SETUP_DOC.read_text() and "docs/setup.md" in dockerfile


def test_broker_settings_match_the_local_broker(compose):
    settings = broker_properties(compose["services"]["kafka"])
    for name, value in BROKER_SETTINGS.items():
        assert settings.get(name) == value, f"{name}: compose has {settings.get(name)!r}, the local broker {value!r}"
    # The rest of what a local single node uses, apart from where it listens and keeps its data.
    local = dict(line.split("=", 1) for line in Node(1, 9092, REPO_ROOT).properties({}, replication=1).splitlines())
    for name in ("listeners", "advertised.listeners", "log.dirs"):
        local.pop(name)
    assert {name: settings.get(name) for name in local} == local
    assert "zookeeper.connect" not in settings and settings["controller.quorum.voters"].startswith("1@kafka:")


def test_advertised_listeners_match_what_the_workspace_and_host_use(compose):
    kafka = compose["services"]["kafka"]
    settings = broker_properties(kafka)
    advertised = listeners(settings["advertised.listeners"])
    bound = listeners(settings["listeners"])
    inside = load_settings(environment(compose["services"]["workspace"])).bootstrap_servers
    ui = environment(compose["services"]["kafka-ui"])["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]
    internal = advertised[settings["inter.broker.listener.name"]]
    assert inside == ui == "{}:{}".format(*internal)
    assert internal[0] == "kafka" and bound[settings["inter.broker.listener.name"]][1] == internal[1]
    # The host's address, the kit's default, reaches the HOST listener through the published port.
    host_name, host_port = advertised["HOST"]
    assert load_settings({}).bootstrap_servers == f"{host_name}:{host_port}"
    assert ("127.0.0.1", host_port, bound["HOST"][1]) in published_ports(kafka)
    assert set(advertised) | {"CONTROLLER"} == set(bound)
    assert {f"{name}:PLAINTEXT" for name in bound} == set(settings["listener.security.protocol.map"].split(","))


def test_only_the_workspace_may_make_the_namespaces_of_the_graders_sandbox(compose):
    # bubblewrap needs new namespaces and a fresh /proc: Docker's seccomp profile and masked paths forbid both.
    assert set(compose["services"]["workspace"]["security_opt"]) == {"seccomp=unconfined", "systempaths=unconfined"}
    for service in compose["services"].values():
        assert not service.get("privileged") and not service.get("cap_add"), service
    assert "security_opt" not in compose["services"]["kafka"]


def test_kafka_keeps_its_data_in_a_named_volume(compose):
    kafka = compose["services"]["kafka"]
    data = broker_properties(kafka)["log.dirs"]
    volume = next(entry.split(":")[0] for entry in kafka["volumes"] if entry.endswith(f":{data}"))
    assert compose["volumes"][volume]["name"] == "clickkit-kafka-data"
    assert "docker volume rm clickkit-kafka-data" in SETUP_DOC.read_text()


def test_workspace_runs_jupyterlab_where_the_ports_point(compose, devcontainer):
    workspace = compose["services"]["workspace"]
    settings = load_settings(environment(workspace))
    assert settings.jupyter_ip == "0.0.0.0"
    assert ("127.0.0.1", settings.jupyter_port, settings.jupyter_port) in published_ports(workspace)
    # Inside the workspace the broker is not local, so `make lab` uses it and never starts a Java broker.
    assert not settings.kafka_is_local
    assert workspace["command"] == ["make", "lab"]
    assert workspace["depends_on"]["kafka"]["condition"] == "service_healthy"
    mount = next(entry for entry in workspace["volumes"] if entry.startswith(".:"))
    assert (
        mount == f".:{devcontainer['workspaceFolder']}" and workspace["working_dir"] == devcontainer["workspaceFolder"]
    )


def test_devcontainer_forwards_ports_recommends_extensions_and_installs_the_kit(compose, devcontainer):
    defaults = load_settings(environment(compose["services"]["workspace"]))
    assert devcontainer["forwardPorts"] == [defaults.ingest_port, defaults.jupyter_port] == [5000, 8888]
    assert {"ms-python.python", "ms-toolsai.jupyter"} <= set(devcontainer["customizations"]["vscode"]["extensions"])
    assert devcontainer["postCreateCommand"] == "make setup"
    assert re.search(r"^setup: \$\(READY\)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    # The workspace's environment is a volume of its own, where the image tells make to build it (CLICKKIT_VENV).
    venv = re.search(r"^ENV CLICKKIT_VENV=(\S+)$", (DEVCONTAINER_DIR / "Dockerfile").read_text(), re.MULTILINE).group(1)
    interpreter = devcontainer["customizations"]["vscode"]["settings"]["python.defaultInterpreterPath"]
    assert interpreter == f"{venv}/bin/python"
    assert f"workspace-venv:{venv}" in compose["services"]["workspace"]["volumes"]
    assert "VENV := $(or $(CLICKKIT_VENV),.venv)" in (REPO_ROOT / "Makefile").read_text()


def test_no_volume_is_mounted_inside_the_students_checkout(compose, devcontainer):
    # Docker creates the mount point of such a volume, owned by root, in the student's own folder.
    checkout = devcontainer["workspaceFolder"]
    for service in compose["services"].values():
        for entry in service.get("volumes", []):
            source, target = entry.split(":")[:2]
            inside = target == checkout or target.startswith(checkout + "/")
            assert source == "." or not inside, f"{entry} puts a mount point into the checkout"


def healthcheck_command(compose) -> tuple:
    """Return the healthcheck's script, its arguments and its timeout in seconds."""
    check = compose["services"]["kafka"]["healthcheck"]
    assert check["test"][0] == "CMD"
    script, *arguments = check["test"][1:]
    return script, arguments, float(check["timeout"].removesuffix("s"))


def test_healthcheck_lists_topics_with_a_tool_the_image_has(compose):
    script, arguments, _ = healthcheck_command(compose)
    # The official image unpacks Kafka's release into /opt/kafka.
    assert script.startswith("/opt/kafka/bin/") and "--list" in arguments
    tool_class = KAFKA_SCRIPT_CLASSES[script.rsplit("/", 1)[1]]
    jar = kafka_libs(load_settings().kafka_cache) / f"kafka-tools-{KAFKA_VERSION}.jar"
    with zipfile.ZipFile(jar) as tools:
        assert tool_class.replace(".", "/") + ".class" in tools.namelist()
    address = arguments[arguments.index("--bootstrap-server") + 1]
    assert address == environment(compose["services"]["workspace"])["KAFKA_BOOTSTRAP_SERVERS"]


def test_healthcheck_passes_on_a_live_broker_and_fails_on_a_dead_one(compose, bootstrap_servers, tmp_path):
    script, arguments, timeout_s = healthcheck_command(compose)
    classpath = str(kafka_libs(load_settings().kafka_cache)) + "/*"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once the socket is closed

    def start(address, log_name):
        args = [address if arg == arguments[arguments.index("--bootstrap-server") + 1] else arg for arg in arguments]
        command = ["java", "-Xmx128m", "-cp", classpath, KAFKA_SCRIPT_CLASSES[script.rsplit("/", 1)[1]], *args]
        # A file, not a pipe: a long topic list must not block the tool while nobody reads it.
        with open(tmp_path / log_name, "w") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def verdict(process, wait_s):
        """Return the exit code, or None when the check is stopped for taking too long."""
        try:
            process.wait(timeout=wait_s)
            return process.returncode
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None

    # Both at once, as the dead check takes the whole timeout. Docker counts a check that outlives the
    # healthcheck's timeout as failed; the live one gets longer, because this machine is shared and slow.
    live_process, dead_process = start(bootstrap_servers, "live.log"), start(dead, "dead.log")
    dead_code, live = verdict(dead_process, timeout_s), verdict(live_process, 90)
    assert live == 0, (tmp_path / "live.log").read_text()[-2000:]
    assert dead_code != 0, "listing topics must fail when no broker answers"


def documented_commands() -> list:
    """Return every command line in the fenced shell blocks and inline code of docs/setup.md and the README."""
    text = SETUP_DOC.read_text() + (REPO_ROOT / "README.md").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL) for line in block.splitlines()]
    lines += re.findall(rf"`((?:{ENV_PREFIX})*(?:docker|make) [^`]+)`", text)
    # Drop VAR=value prefixes, $(...) values included, before splitting into words.
    return [shlex.split(re.sub(rf"^(?:{ENV_PREFIX})+", "", line), comments=True) for line in lines if line.strip()]


def test_every_documented_docker_and_make_command_fits_the_files(compose):
    services, profiles = set(compose["services"]), {"ui"}
    volumes = {volume["name"] for volume in compose["volumes"].values()}
    targets = set(re.findall(r"^([a-z][\w-]*):", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE))
    value_flags = {"--profile", "-f", "--file", "-p", "--project-name", "--filter"}
    checked = 0
    for words in documented_commands():
        if words[:2] == ["docker", "compose"]:
            rest, positional = words[2:], []
            while rest:
                word = rest.pop(0)
                if word == "--profile":
                    assert rest[0] in profiles
                if word in value_flags:
                    rest.pop(0)
                elif not word.startswith("-"):
                    positional.append(word)
            subcommand, *named = positional or [None]  # bare `docker compose` in prose
            if subcommand in {"exec", "run"}:
                named = named[:1]  # then the command to run in the service
            assert set(named) <= services, f"unknown service in {shlex.join(words)}"
            checked += 1
        elif words[:3] == ["docker", "volume", "rm"]:
            assert set(words[3:]) <= volumes
            checked += 1
        elif words and words[0] == "make":
            assert {word for word in words[1:] if "=" not in word} <= targets, shlex.join(words)
            checked += 1
    assert checked >= 20


def test_documented_local_reset_deletes_the_local_brokers_folder():
    home = for_settings(settings=load_settings({})).home
    assert f"rm -rf {home.relative_to(REPO_ROOT)}" in SETUP_DOC.read_text()
