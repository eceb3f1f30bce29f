"""Screenshot, per notebook, the first failing check of the untouched exercise in JupyterLab: docs/images/check-NN-*.png.

    KAFKA_BOOTSTRAP_SERVERS=... .venv/bin/python tests/browser/check_shots.py     (after bash tests/browser/install.sh)

Each exercise runs in a kernel first (errors allowed), so JupyterLab shows the outputs a student sees after
running every cell; tests/browser/check_shot.mjs then opens each one in Debian's headless chromium.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from clickkit.config import REPO_ROOT
from clickkit.course.lab import quiet_jupyterlab
from clickkit.ports import free_port, free_port_pair


def main() -> int:
    """Run the exercises, serve them in JupyterLab, and write one screenshot per notebook."""
    work = Path(tempfile.mkdtemp(prefix="clickkit-shots-"))
    os.environ["INGEST_PORT"] = str(free_port_pair())
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy(path, work / path.name)  # 02 loads the 01 next to it
    for path in sorted(work.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(work)}}).execute()
        nbformat.write(notebook, path)
    # Every cell rendered, not only those in view: the screenshot scrolls to a cell far down.
    override = quiet_jupyterlab().parent / "clickkit-shots.json"
    override.write_text(json.dumps({"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}))
    port = free_port()
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
                            "--IdentityProvider.token=", f"--ServerApp.root_dir={work}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=2)
                break
            except OSError:
                time.sleep(1)
        for path in sorted(work.glob("*.ipynb")):
            out = REPO_ROOT / "docs" / "images" / f"check-{path.stem}.png"
            shot = subprocess.run(["node", str(Path(__file__).parent / "check_shot.mjs"), f"http://127.0.0.1:{port}",
                                   path.name, str(out)], capture_output=True, text=True, timeout=180)
            print(shot.stdout.strip() or shot.stderr[-1000:], flush=True)
    finally:
        lab.terminate()
        lab.wait(30)
        override.unlink()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
