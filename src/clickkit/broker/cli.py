"""make kafka-up, kafka-down and kafka-status: act on the configured broker, and say which one it is."""

import argparse
import sys

from clickkit.broker.health import is_ready
from clickkit.broker.local import KAFKA_VERSION, LocalKafka, for_settings
from clickkit.config import load_settings
from clickkit.errors import KitError
from clickkit.ports import any_accepts, port_is_open

# Where a broker the kit does not run comes from, and how to start it: said whenever it does not answer.
REMOTE_ADVICE = (
    "In the devcontainer this is the compose service 'kafka': on your machine run 'docker compose ps' "
    "('kafka' must be healthy) and 'docker compose up -d kafka'. Elsewhere check the address, or unset "
    "KAFKA_BOOTSTRAP_SERVERS to use the kit's own broker (make kafka-up)."
)


def not_usable(settings) -> str:
    """Say why the configured broker cannot be used: nothing answers there, or what answers does not work from here."""
    if not any_accepts(settings.bootstrap_servers):
        return f"No Kafka broker answers at {configured(settings)}"
    # The usual cause in the devcontainer: a broker that advertises localhost:9092, which is not the workspace.
    return (
        f"Something accepts connections at {configured(settings)}, but producing and consuming through it "
        "failed. If it is Kafka, it may advertise an address that does not connect from here: make doctor "
        "names the address it advertises and what to change"
    )


def configured(settings) -> str:
    """Name the broker the kit is configured to use, and where that setting comes from."""
    return f"{settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)"


def ensure_kafka(settings, starting=None):
    """Use the configured broker if it answers, or start the kit's own at a local address; return the one started.

    `starting(kafka)` is called just before a start, so that a caller can stop it even if interrupted meanwhile.
    """
    if is_ready(settings.bootstrap_servers):
        print(f"Kafka answers at {configured(settings)}.")
        return None
    if not settings.kafka_is_local:
        raise KitError(
            f"{not_usable(settings)}. The kit starts no broker there (it is not this machine). {REMOTE_ADVICE}"
        )
    kafka = for_settings(settings=settings)
    if kafka.running():
        raise KitError(
            f"The kit's broker runs but does not answer at {kafka.bootstrap_servers}: see "
            f"{kafka.nodes[0].log_file}, or restart it with make kafka-down, then make kafka-up."
        )
    print(
        f"No Kafka broker answers at {settings.bootstrap_servers}: starting the kit's own "
        "(the very first time, Maven downloads Kafka first)...",
        flush=True,
    )
    if starting is not None:
        starting(kafka)
    kafka.start()
    print(f"Started the local Kafka broker at {kafka.bootstrap_servers} (stop it with: make kafka-down).", flush=True)
    return kafka


def remote_action(action: str, settings) -> int:
    """Act on a configured broker that is not on this machine: use it, report it, never start a second one."""
    if action == "up":
        if not is_ready(settings.bootstrap_servers):
            raise KitError(
                f"{not_usable(settings)}. The kit starts a broker only at a localhost address, so it starts "
                f"none here. {REMOTE_ADVICE}"
            )
        print(f"Kafka answers at {configured(settings)}: the kit uses it and starts no broker of its own.")
    elif action == "status":
        if not is_ready(settings.bootstrap_servers):
            print(f"{not_usable(settings)}. {REMOTE_ADVICE}")
            return 3
        print(f"Kafka at {configured(settings)}, not started by the kit, answers: a message was produced and consumed.")
    else:
        print(
            f"Kafka at {configured(settings)} was not started by the kit, so it keeps running. To stop it, "
            "stop it where it runs (devcontainer: 'docker compose stop kafka' on your machine)."
        )
    return 0


def local_action(action: str, kafka: LocalKafka, settings) -> int:
    """Start, stop or report the kit's broker at the configured localhost address, or one someone else runs there."""
    foreign = not kafka.running() and port_is_open(kafka.nodes[0].port) and is_ready(kafka.bootstrap_servers)
    if action == "up":
        if foreign:
            print(
                f"A Kafka broker the kit did not start (docker compose?) already answers at {configured(settings)}; "
                "the kit will use it. Stop it first to run the kit's own."
            )
            return 0
        verb = "started" if kafka.start() else "is already running"
        print(f"Kafka {KAFKA_VERSION} broker {verb} at {kafka.bootstrap_servers} (data: {kafka.home}).")
        if kafka.bootstrap_servers != settings.bootstrap_servers:
            print(f"Point the kit at it with: export KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}")
    elif action == "down":
        stopped = kafka.stop()
        print(
            f"Stopped the local Kafka broker at {kafka.bootstrap_servers}."
            if stopped
            else "No local Kafka broker was running."
        )
        if not stopped and foreign:
            print(
                f"A broker the kit did not start still answers at {configured(settings)}: stop it where it was "
                "started (for docker compose: docker compose stop kafka)."
            )
    else:
        if foreign:
            print(
                f"Kafka at {configured(settings)} answers (a message was produced and consumed), but the kit did "
                "not start it (docker compose?); the kit uses it."
            )
            return 0
        return report(kafka, f"Kafka at {configured(settings)}", "make kafka-up")
    return 0


def report(kafka: LocalKafka, name: str, start: str) -> int:
    """Print each node's state and whether Kafka answers; return 0 (answers), 1 (does not yet) or 3 (stopped)."""
    running = kafka.running()
    for node in kafka.nodes:
        state = f"running (pid {node.pid()})" if node in running else "stopped"
        print(f"node {node.node_id}: localhost:{node.port} {state}, log {node.log_file}")
    if not running:
        print(f"{name}: no broker runs. Start it with '{start}'.")
        return 3
    healthy = is_ready(kafka.bootstrap_servers)
    print(
        f"{name} answers: a message was produced and consumed."
        if healthy
        else f"{name} does not answer yet: see the log above."
    )
    return 0 if healthy else 1


def cluster_action(action: str, kafka: LocalKafka) -> int:
    """Start, stop or report the local three-broker cluster."""
    if action == "up":
        verb = "started" if kafka.start() else "is already running"
        print(f"Kafka {KAFKA_VERSION} cluster {verb} at {kafka.bootstrap_servers} (data: {kafka.home}).")
    elif action == "down":
        print("Stopped the local Kafka cluster." if kafka.stop() else "No local Kafka cluster was running.")
    else:
        return report(kafka, f"The local cluster at {kafka.bootstrap_servers}", "make cluster-up")
    return 0


def main(argv=None) -> int:
    """Run `up`, `down` or `status` on the configured broker, or on the local cluster."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.broker", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--cluster", action="store_true", help="three brokers instead of one")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        if args.cluster:
            return cluster_action(args.action, for_settings(cluster=True, settings=settings))
        if not settings.kafka_is_local:
            return remote_action(args.action, settings)
        return local_action(args.action, for_settings(settings=settings), settings)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
