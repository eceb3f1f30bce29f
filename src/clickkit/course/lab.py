"""Make sure a real Kafka broker answers, then start JupyterLab on the notebooks."""

import json
import os
import sys
from pathlib import Path

from clickkit.broker.cli import ensure_kafka
from clickkit.config import REPO_ROOT, load_settings
from clickkit.errors import KitError

# Defaults for JupyterLab's notification settings: no pop-up asking about Jupyter news, no update check.
# A student's own settings (Settings > Notifications) still win over these.
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def quiet_jupyterlab() -> Path | None:
    """Turn JupyterLab's news pop-up and update check off for this environment; return the file written."""
    from jupyterlab.commands import get_app_dir  # the environment's JupyterLab, which reads overrides.d/ at start

    path = Path(get_app_dir()) / "settings" / "overrides.d" / "clickkit.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n")
    except OSError as error:  # a JupyterLab installed for all users: not ours to change, and no reason to stop
        print(
            f"note: could not write {path} ({error.strerror}); if JupyterLab asks about Jupyter news, "
            "answer in the pop-up or under Settings > Notifications."
        )
        return None
    return path


def main() -> int:
    """Start JupyterLab on the first notebook; it prints the URL to open."""
    settings = load_settings()
    try:
        ensure_kafka(settings)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    quiet_jupyterlab()
    print("Starting JupyterLab: open the http://127.0.0.1:... URL printed below (Ctrl+C to stop).", flush=True)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--ServerApp.root_dir={REPO_ROOT}",
        f"--ServerApp.ip={settings.jupyter_ip}",
        f"--ServerApp.port={settings.jupyter_port}",
        "--LabApp.default_url=/lab/tree/notebooks/00-intro.ipynb",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    os.execv(sys.executable, command)


if __name__ == "__main__":
    sys.exit(main())
