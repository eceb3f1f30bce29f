"""Run a real Apache Kafka broker (or a small cluster) from Maven Central, without Docker."""

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from clickkit.config import load_settings
from clickkit.ports import free_node_ports, port_is_open
from clickkit.broker.health import wait_for_brokers, wait_until_ready
from clickkit.errors import BrokerNotReady, KitError

KAFKA_VERSION = "4.1.1"
# Kafka's POM leaves out the log4j2 runtime and the slf4j 1.x binding; without them the broker is silent.
LOG4J_VERSION = "2.24.3"
CLUSTER_PORTS = (19192, 19292, 19392)

# Settings every local broker shares with the docker-compose broker (tests keep the two in step).
BROKER_SETTINGS = {
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    # HOST is the docker-compose broker's listener for the host machine; local brokers leave it unused.
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
}

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>clickkit</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""



def require(tool: str, hint: str) -> str:
    """Return the path of a command, or raise with what to install."""
    path = shutil.which(tool)
    if not path:
        raise KitError(f"'{tool}' was not found on PATH. {hint}")
    return path


def kafka_libs(cache: Path) -> Path:
    """Fetch Kafka's jars with Maven once and return the folder that holds them."""
    libs = cache / f"kafka-{KAFKA_VERSION}" / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = require("mvn", "Install Apache Maven 3.6+ (Debian/Ubuntu: apt-get install maven; macOS: brew install maven).")
    libs.parent.mkdir(parents=True, exist_ok=True)
    (libs.parent / "pom.xml").write_text(POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    print(f"Fetching Apache Kafka {KAFKA_VERSION} from Maven Central (once, into {libs})...", flush=True)
    command = [mvn, "-q", "-B", "-f", str(libs.parent / "pom.xml"), "dependency:copy-dependencies",
               f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise KitError("Maven could not fetch Kafka. Check that Maven Central is reachable (proxy settings "
                       f"in ~/.m2/settings.xml).\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    (libs / ".complete").touch()
    return libs


@dataclass(frozen=True)
class Node:
    """One combined broker and controller of a local cluster."""

    node_id: int
    port: int
    home: Path

    @property
    def controller_port(self) -> int:
        return self.port + 1

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    def properties(self, quorum: dict, replication: int, host: str = "localhost") -> str:
        """Return this node's server.properties."""
        settings = dict(BROKER_SETTINGS)
        settings.update(quorum)
        settings.update({
            "node.id": self.node_id,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
            "log.dirs": self.home / "data",
            "offsets.topic.replication.factor": replication,
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min(2, replication),
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min(2, replication),
            "default.replication.factor": replication,
            "min.insync.replicas": min(2, replication),
        })
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def pid(self):
        """Return the pid of this node's running broker, or None."""
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"kafka.Kafka" not in cmdline.read_bytes():
            return None  # the pid was reused by another program
        return pid


class LocalKafka:
    """A single broker or a small cluster, each node a java process under one home folder."""

    def __init__(self, home: Path, ports, cache: Path, host: str = "localhost"):
        self.home, self.host = Path(home), host
        self.cache = Path(cache)
        self.nodes = [Node(i + 1, port, self.home / f"node-{i + 1}") for i, port in enumerate(ports)]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.host}:{node.port}" for node in self.nodes)

    def quorum(self) -> dict:
        if len(self.nodes) == 1:
            return {"controller.quorum.bootstrap.servers": f"127.0.0.1:{self.nodes[0].controller_port}"}
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        return {"controller.quorum.voters": voters}

    def running(self):
        """Return the nodes whose broker process is alive."""
        return [node for node in self.nodes if node.pid()]

    def start(self, timeout_s: float = 120.0) -> bool:
        """Start every node and wait until Kafka really works; return False if it was already running."""
        if self.running():
            if len(self.running()) == len(self.nodes):
                return False
            raise KitError(f"Only part of the cluster in {self.home} is running. Run its 'down' first.")
        java = require("java", "Install a Java runtime, 17 or newer (Debian/Ubuntu: apt-get install "
                               "openjdk-17-jre-headless; macOS: brew install openjdk@17).")
        for node in self.nodes:
            for port in (node.port, node.controller_port):
                if port_is_open(port):
                    raise KitError(f"Port {port} is already in use by another program. Stop it, or choose "
                                   "another port with KAFKA_BOOTSTRAP_SERVERS=localhost:<port>.")
        libs = kafka_libs(self.cache)
        classpath = f"{libs}{os.sep}*"
        self._format(java, classpath)
        heap = "-Xmx512m" if len(self.nodes) == 1 else "-Xmx384m"
        processes = []
        for node in self.nodes:
            command = [java, heap, "-Xms128m", "-Djava.awt.headless=true",
                       f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                       "-cp", classpath, "kafka.Kafka", str(node.home / "server.properties")]
            with open(node.log_file, "w") as log:
                # A new session keeps the broker alive after `make kafka-up` returns.
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
            node.pid_file.write_text(str(process.pid))
            processes.append(process)

        def alive():
            return all(process.poll() is None for process in processes)

        deadline = time.monotonic() + timeout_s
        try:
            wait_until_ready(self.bootstrap_servers, timeout_s, alive=alive)
            # One answering node is not a cluster: replicated topics need every node registered.
            wait_for_brokers(self.bootstrap_servers, len(self.nodes), deadline - time.monotonic(), alive)
        except BrokerNotReady as error:
            logs = "\n".join(f"--- {n.log_file} (last lines)\n" + tail(n.log_file) for n in self.nodes)
            self.stop()
            raise KitError(f"Kafka did not become ready: {error}\n{logs}") from error
        return True

    def _format(self, java: str, classpath: str) -> None:
        """Write each node's configuration and format its KRaft storage once."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(LOG4J2)
        cluster_id_file = self.home / "cluster.id"
        tool = [java, "-cp", classpath, "kafka.tools.StorageTool"]
        if not cluster_id_file.exists():
            cluster_id = subprocess.run(tool + ["random-uuid"], capture_output=True, text=True,
                                        check=True, timeout=60).stdout.strip().splitlines()[-1]
            cluster_id_file.write_text(cluster_id)
        cluster_id = cluster_id_file.read_text().strip()
        for node in self.nodes:
            node.home.mkdir(parents=True, exist_ok=True)
            config = node.home / "server.properties"
            config.write_text(node.properties(self.quorum(), replication=min(3, len(self.nodes)), host=self.host))
            if (node.home / "data" / "meta.properties").exists():
                continue
            standalone = ["--standalone"] if len(self.nodes) == 1 else []
            result = subprocess.run(tool + ["format", *standalone, "-t", cluster_id, "-c", str(config)],
                                    capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise KitError(f"Formatting Kafka's storage in {node.home} failed:\n{result.stdout}{result.stderr}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """Stop every running node (SIGTERM, then SIGKILL after the timeout); return how many were running."""
        nodes = self.running()
        for node in nodes:
            os.kill(node.pid(), signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(node.pid() for node in nodes):
            time.sleep(0.2)
        for node in nodes:
            pid = node.pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
            node.pid_file.unlink(missing_ok=True)
        return len(nodes)

    def kill_node(self, node_id: int) -> None:
        """Kill one node at once, as a crash would."""
        node = self.nodes[node_id - 1]
        os.kill(node.pid(), signal.SIGKILL)
        while node.pid():
            time.sleep(0.05)


def start_on_free_ports(home: Path, nodes: int, cache: Path, timeout_s: float = 180.0,
                        attempts: int = 3, host: str = "localhost") -> LocalKafka:
    """Start a broker (or a cluster) on free ports, in a fresh folder under home each try; raise KitError after the last."""
    # Another program may take a free port before the broker binds it: each try draws fresh ports.
    for attempt in range(1, attempts + 1):
        kafka = LocalKafka(Path(home) / f"try-{attempt}", free_node_ports(nodes), cache, host)
        try:
            kafka.start(timeout_s=timeout_s)
            return kafka
        except KitError:
            if attempt == attempts:
                raise
    raise ValueError("attempts must be at least 1")


def tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def for_settings(cluster: bool = False, settings=None) -> LocalKafka:
    """Return the kit's single broker, or its three-broker cluster."""
    settings = settings or load_settings()
    if cluster:
        return LocalKafka(settings.kafka_home / "cluster", CLUSTER_PORTS, settings.kafka_cache)
    return LocalKafka(settings.kafka_home / "single", [settings.local_kafka_port], settings.kafka_cache)

