"""make lab: JupyterLab starts on the notebooks and prints its URL, against the real broker."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from clickkit.broker.cli import ensure_kafka
from clickkit.config import load_settings
from clickkit.errors import KitError
from clickkit.ports import free_port


def test_lab_prints_a_working_url(bootstrap_servers, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "JUPYTER_PORT": str(port),
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
    }
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        lab = subprocess.Popen(
            [sys.executable, "-m", "clickkit.course.lab"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and lab.poll() is None:
            time.sleep(0.5)
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\S*token=\w+", log.read_text())
            url = found.group(0) if found else None
        assert url, f"no JupyterLab URL printed:\n{log.read_text()[-3000:]}"
        assert f"Kafka answers at {bootstrap_servers}" in log.read_text()
        token = url.split("token=")[1]
        status = requests.get(f"http://127.0.0.1:{port}/api/contents/notebooks", params={"token": token}, timeout=10)
        assert status.status_code == 200
        names = {item["name"] for item in status.json()["content"]}
        assert "00-intro.ipynb" in names
        # No pop-up asking about Jupyter news: the frontend asks only while fetchNews is "none".
        notification = requests.get(
            f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification",
            params={"token": token},
            timeout=10,
        ).json()
        defaults = {key: spec["default"] for key, spec in notification["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
    finally:
        if lab.poll() is None:  # it may have exited already, and the failure above says why
            os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)


def test_an_unreachable_remote_broker_is_explained():
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "kafka.invalid:9092"})
    with pytest.raises(KitError, match=r"No Kafka broker answers at kafka.invalid:9092 \(KAFKA_BOOTSTRAP_SERVERS\)"):
        ensure_kafka(settings)


def test_a_remote_address_that_accepts_but_is_not_kafka_points_to_make_doctor():
    # 127.0.0.2 is this machine's loopback, but not an address at which the kit would start its own broker.
    with socket.create_server(("127.0.0.2", 0)) as listener:
        settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.2:{listener.getsockname()[1]}"})
        with pytest.raises(KitError) as refused:
            ensure_kafka(settings)
    message = str(refused.value)
    assert message.startswith("Something accepts connections at 127.0.0.2:")
    assert "make doctor names the address it advertises" in message
