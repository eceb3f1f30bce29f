"""Make sure a real Kafka broker answers, then start JupyterLab on the notebooks."""

import os
import sys

from clickkit.broker.local import KitError, for_settings
from clickkit.config import REPO_ROOT, load_settings
from clickkit.broker.health import is_ready


def ensure_kafka(settings) -> None:
    """Use the configured broker if it answers; start the local one if the address is local."""
    if is_ready(settings.bootstrap_servers):
        print(f"Kafka answers at {settings.bootstrap_servers}.")
        return
    if not settings.kafka_is_local:
        raise KitError(f"No Kafka broker answers at KAFKA_BOOTSTRAP_SERVERS={settings.bootstrap_servers}. "
                       "Check the address, or unset the variable to use the kit's local broker.")
    kafka = for_settings(settings=settings)
    kafka.start()
    print(f"Started the local Kafka broker at {kafka.bootstrap_servers} (stop it with: make kafka-down).")


def main() -> int:
    """Start JupyterLab on the first notebook; it prints the URL to open."""
    settings = load_settings()
    try:
        ensure_kafka(settings)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    print("Starting JupyterLab: open the http://127.0.0.1:... URL printed below (Ctrl+C to stop).", flush=True)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
               f"--ServerApp.root_dir={REPO_ROOT}", f"--ServerApp.ip={settings.jupyter_ip}",
               f"--ServerApp.port={settings.jupyter_port}",
               "--LabApp.default_url=/lab/tree/notebooks/00-intro.ipynb"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    os.execv(sys.executable, command)


if __name__ == "__main__":
    sys.exit(main())
