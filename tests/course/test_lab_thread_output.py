"""In JupyterLab, in headless Chromium: the background server's log stays under the cell that started it."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from clickkit.ports import free_port

BROWSER_DIR = Path(__file__).parents[1] / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_COPY = Path("/tmp/thread-output.png")

CELLS = [
    """from flask import Flask

from clickkit.course.notebook_server import BackgroundServer

app = Flask("tiny")
app.get("/hello")(lambda: "hello")


@app.get("/boom")
def boom():
    raise ZeroDivisionError("boom on purpose")


server = BackgroundServer(app, port=0).start()""",
    'print("the second cell")',
    'print("the third cell")',
]


@pytest.fixture
def node() -> str:
    """Return node's path, or fail saying what to install: a missing tool fails this test, never skips it."""
    node = shutil.which("node")
    missing = [f"chromium at {CHROMIUM} (apt-get install -y chromium)"] if not Path(CHROMIUM).exists() else []
    if node is None:
        missing.append("Node.js 18+ (apt-get install -y nodejs npm)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append(f"playwright-core (bash {BROWSER_DIR / 'install.sh'})")
    if missing:
        pytest.fail("The JupyterLab browser test needs " + "; ".join(missing))
    return node


@pytest.fixture
def lab(tmp_path):
    """Start JupyterLab on a notebook of CELLS, with settings of its own; yield the notebook's URL, token included."""
    work = tmp_path / "work"
    work.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, work / "server.ipynb")
    port, token = free_port(), "thread-output-test"
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no news pop-up
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.root_dir={work}"]
    command += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}"]
    command += ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # as lab.py does: containers and CI machines often run as root
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield f"{base}/lab/tree/server.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.slow  # make test installs the browser (tests/browser/install.sh); make test-fast does not
@pytest.mark.timeout(90)
def test_the_servers_log_stays_under_its_cell_in_jupyterlab(node, lab, tmp_path):
    screenshot = tmp_path / "thread-output.png"
    run = subprocess.run(
        [node, "lab_thread_output.mjs", lab, str(screenshot)],
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if screenshot.exists():
        shutil.copyfile(screenshot, SCREENSHOT_COPY)
    assert run.returncode == 0, f"the JupyterLab run failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["answers"] == [200, 500]
    first, second, third = report["outputs"]
    assert first.startswith("Serving on http://127.0.0.1:")
    assert "GET /hello HTTP/1.1" in first and "GET /boom HTTP/1.1" in first, first
    assert "Exception on /boom [GET]" in first and "ZeroDivisionError: boom on purpose" in first, first
    assert second.strip() == "the second cell" and third.strip() == "the third cell", report["outputs"]
    assert screenshot.stat().st_size > 10_000
