"""docker-compose.yml's Kafka without Docker: its broker, network, service name and published port, for real.

On a Linux machine where the suite runs as root (CI), three network namespaces stand in for the host, the
`kafka` container and the `workspace` container, joined by a bridge as Docker joins a compose project. The
broker is configured by the apache/kafka image's own set-up code from the kafka service's environment.
Inside the devcontainer, the compose broker itself is tested, from where the workspace sees it.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from compose_file import environment, load_compose, published_ports

from clickkit.broker.local import LOG4J2, kafka_libs, tail
from clickkit.config import REPO_ROOT, load_settings

TOOLS = Path(__file__).with_name("compose_tools.py")
GATEWAY_IP, KAFKA_IP, WORKSPACE_IP = "172.28.0.1", "172.28.0.2", "172.28.0.3"  # seen only inside the namespaces
# The image's configureDefaults script sets this cluster id when CLUSTER_ID is unset.
IMAGE_DEFAULT_CLUSTER_ID = "5L6g3nShT-eMCtK--X86sw"
START_TIMEOUT_S = 180
NEEDS_ROOT = (
    "The compose topology test builds the compose network from Linux network namespaces (ip netns), "
    "which needs root: CI runs the suite as root. Inside the devcontainer (KAFKA_BOOTSTRAP_SERVERS="
    "{inside}) it tests the compose broker itself. Elsewhere run the suite as root, in a throwaway VM."
)


def run(command: list, timeout_s: float = 60) -> str:
    """Run a set-up command and return its output, or raise with what it said."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed: {result.stdout}{result.stderr}".strip())
    return result.stdout


def tool(side: list, *args: str, env: dict | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Run a compose_tools.py command (or `-m module`) where `side` says: on the host or in the workspace."""
    command = [sys.executable, *(args if args[0] == "-m" else (str(TOOLS), *args))]
    return subprocess.run(
        side + command,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )


def image_environment(service_env: dict, data_dir: Path) -> dict:
    """Return what the image's set-up code sees: the service's environment after the image's own scripts."""
    env = dict(service_env)
    if not env.get("CLUSTER_ID"):
        env["CLUSTER_ID"] = IMAGE_DEFAULT_CLUSTER_ID
    # The image's configure script: without KAFKA_LISTENERS, listen on 0.0.0.0 at the advertised ports.
    if (
        not env.get("KAFKA_LISTENERS")
        and env.get("KAFKA_PROCESS_ROLES") != "controller"
        and env.get("KAFKA_ADVERTISED_LISTENERS")
    ):
        env["KAFKA_LISTENERS"] = re.sub(r"://[^:]*:", "://0.0.0.0:", env["KAFKA_ADVERTISED_LISTENERS"])
    # The one change: the data lives in the test's folder instead of the image's volume.
    env["KAFKA_LOG_DIRS"] = str(data_dir)
    return env


def configure_broker(service_env: dict, folder: Path, classpath: str) -> Path:
    """Run the image's set-up code (kafka.docker.KafkaDockerWrapper): server.properties from KAFKA_*, then format."""
    dirs = {name: folder / name for name in ("defaults", "mounted", "final", "data")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # Only the service's variables: the wrapper turns every KAFKA_* it sees into a broker setting.
    path = f"{Path(shutil.which('java')).parent}:{os.defpath}"
    env = {"PATH": path, **image_environment(service_env, dirs["data"])}
    command = [
        "java",
        "-Xmx256m",
        "-cp",
        classpath,
        "kafka.docker.KafkaDockerWrapper",
        "setup",
        "--default-configs-dir",
        str(dirs["defaults"]),
        "--mounted-configs-dir",
        str(dirs["mounted"]),
        "--final-configs-dir",
        str(dirs["final"]),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    assert result.returncode == 0, f"the image's set-up code failed:\n{result.stdout}{result.stderr}"
    return dirs["final"] / "server.properties"


class Namespaces:
    """The host, the kafka container and the workspace container, each a network namespace, on one bridge."""

    def __init__(self):
        tag = f"{os.getpid()}-{secrets.token_hex(2)}"
        self.names = {role: f"clickkit-{tag}-{role}" for role in ("host", "kafka", "workspace")}

    def create(self) -> None:
        """Make the namespaces, the compose network between them, and each one's /etc/hosts."""
        for name in self.names.values():
            run(["ip", "netns", "add", name])
            run(["ip", "-n", name, "link", "set", "lo", "up"])
        host = self.names["host"]
        run(["ip", "-n", host, "link", "add", "compose0", "type", "bridge"])
        run(["ip", "-n", host, "addr", "add", f"{GATEWAY_IP}/24", "dev", "compose0"])
        run(["ip", "-n", host, "link", "set", "compose0", "up"])
        for role, address in (("kafka", KAFKA_IP), ("workspace", WORKSPACE_IP)):
            name = self.names[role]
            run(["ip", "-n", host, "link", "add", f"v-{role}", "type", "veth", "peer", "name", "eth0", "netns", name])
            run(["ip", "-n", host, "link", "set", f"v-{role}", "master", "compose0", "up"])
            run(["ip", "-n", name, "addr", "add", f"{address}/24", "dev", "eth0"])
            run(["ip", "-n", name, "link", "set", "eth0", "up"])
            # Docker's DNS answers the service name `kafka` on the project's network, and only there.
            self.write_hosts(name, address, f"{KAFKA_IP} kafka\n")
        self.write_hosts(host, GATEWAY_IP, "")

    @staticmethod
    def write_hosts(name: str, address: str, extra: str) -> None:
        """Give a namespace its own /etc/hosts (`ip netns exec` mounts /etc/netns/<name>/hosts over it)."""
        folder = Path("/etc/netns") / name
        folder.mkdir(parents=True, exist_ok=True)
        # As Docker does for a container, the hostname is the namespace's own address: a broker listening on
        # every interface resolves it at start.
        (folder / "hosts").write_text(f"127.0.0.1 localhost\n::1 localhost\n{address} {socket.gethostname()}\n{extra}")

    def side(self, role: str) -> list:
        """Return the command prefix that runs a program in one of the namespaces."""
        return ["ip", "netns", "exec", self.names[role]]

    def delete(self) -> None:
        """Remove the namespaces (and with them the network) and their hosts files."""
        for name in self.names.values():
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=60)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)


class SimulatedCompose:
    """The compose project in network namespaces, with a broker configured as the image configures it."""

    def __init__(self, compose: dict, folder: Path):
        self.kafka = compose["services"]["kafka"]
        self.folder = folder
        self.namespaces = Namespaces()
        self.broker = None
        self.host, self.workspace = self.namespaces.side("host"), self.namespaces.side("workspace")

    def start(self, address: str) -> None:
        """Build the network, configure and start the broker, and wait until the workspace's address works."""
        try:
            self.namespaces.create()
            classpath = f"{kafka_libs(load_settings().kafka_cache)}{os.sep}*"
            config = configure_broker(environment(self.kafka), self.folder, classpath)
            (self.folder / "log4j2.properties").write_text(LOG4J2)
            # The image's launch script hands KAFKA_HEAP_OPTS to the JVM (kafka-server-start.sh: 1 GB without it).
            heap = environment(self.kafka).get("KAFKA_HEAP_OPTS", "-Xmx1G -Xms1G").split()
            command = [
                "java",
                *heap,
                f"-Dlog4j2.configurationFile={self.folder / 'log4j2.properties'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ]
            with open(self.log, "w") as log:
                self.broker = subprocess.Popen(
                    self.namespaces.side("kafka") + command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.wait(address)
        except BaseException:
            self.stop()
            raise

    @property
    def log(self) -> Path:
        return self.folder / "broker.log"

    def wait(self, address: str) -> None:
        """Wait until a message goes through the address from the workspace, or fail with the broker's log."""
        waiter = subprocess.Popen(
            self.workspace + [sys.executable, str(TOOLS), "wait", address, str(START_TIMEOUT_S)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO_ROOT,
        )
        while waiter.poll() is None and self.broker.poll() is None:
            time.sleep(0.5)
        if waiter.poll() is None:
            waiter.kill()
        output = waiter.communicate(timeout=60)[0]
        assert waiter.returncode == 0, (
            f"the compose broker did not answer at {address}:\n{output[-2000:]}\n--- {self.log}\n{tail(self.log)}"
        )

    def published(self):
        """Publish the kafka service's ports on the host, as Docker does with a proxy per port."""
        return publishing(self.kafka, self.host, KAFKA_IP)

    def stop(self) -> None:
        """Stop the broker and remove the namespaces."""
        if self.broker is not None and self.broker.poll() is None:
            os.killpg(self.broker.pid, signal.SIGTERM)
            try:
                self.broker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.broker.pid, signal.SIGKILL)
                self.broker.wait(timeout=30)
        self.namespaces.delete()


class RealCompose:
    """Inside the devcontainer: the compose broker itself, with this container as both host and workspace."""

    def __init__(self, compose: dict):
        self.kafka = compose["services"]["kafka"]
        self.host = self.workspace = []

    def start(self, address: str) -> None:
        result = tool(self.workspace, "wait", address, str(START_TIMEOUT_S), timeout_s=START_TIMEOUT_S + 60)
        assert result.returncode == 0, f"no compose broker answers at {address}: {result.stdout}{result.stderr}"

    def published(self):
        """Publish the kafka service's ports here, reaching the broker by its service name, as Docker's proxy does."""
        return publishing(self.kafka, [], "kafka")

    def stop(self) -> None:
        pass


@contextmanager
def publishing(kafka: dict, side: list, target: str):
    """Run a proxy per port the kafka service publishes, from `side` to `target`, while the block runs."""
    proxies = []
    try:
        for host_ip, host_port, container_port in published_ports(kafka):
            proxies.append(start_proxy(side, host_ip, host_port, target, container_port))
        yield
    finally:
        for proxy in proxies:
            proxy.kill()
            proxy.wait(timeout=30)


def start_proxy(side: list, host_ip: str, host_port: int, target: str, target_port: int) -> subprocess.Popen:
    """Start a forwarding proxy and return once it listens."""
    proxy = subprocess.Popen(
        side + [sys.executable, str(TOOLS), "proxy", host_ip, str(host_port), target, str(target_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first_line = proxy.stdout.readline().strip()  # EOF, and so no hang, if the proxy dies
    assert first_line == "listening", (
        f"the proxy for {host_ip}:{host_port} did not start: {first_line}"
        f"{proxy.stdout.read() if proxy.poll() is not None else ''}"
    )
    return proxy


def compose_topology(folder: Path):
    """Return the compose project to test: the real one inside the devcontainer, else one in namespaces."""
    compose = load_compose()
    inside = environment(compose["services"]["workspace"])["KAFKA_BOOTSTRAP_SERVERS"]
    if load_settings().bootstrap_servers == inside:
        return RealCompose(compose)
    if os.geteuid() != 0 or not shutil.which("ip"):
        raise RuntimeError(NEEDS_ROOT.format(inside=inside) + " Without the `ip` command: apt-get install iproute2.")
    return SimulatedCompose(compose, folder)
