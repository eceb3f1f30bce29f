"""A wheel that works: built from the checkout, installed in a fresh venv, its demo serves the live page."""

import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import requests

from clickkit.config import REPO_ROOT
from clickkit.ports import free_port

STARTUP_LIMIT_S = 100  # a guard against a hang, not a target: the demo starts in seconds


def build_wheel(out: Path) -> Path:
    """Build the kit's wheel from a copy of the checkout, so that no build/ folder is left in it."""
    source = out / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(REPO_ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("clickkit-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    """Install the wheel alone in a new virtual environment that borrows the test's dependencies; return its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    # Flask, kafka-python... come from the test's environment, appended after the wheel: a plain path in a
    # .pth file does not run that environment's own .pth files, so its editable clickkit stays out.
    Path(purelib, "zz-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    return python


def forward_lines(stream, lines: queue.Queue) -> None:
    """Put each line of the stream on the queue, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def test_the_wheel_holds_the_live_page_and_the_demo_serves_it(bootstrap_servers, topic, tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    python = install_in_fresh_venv(wheel, tmp_path / "venv")
    outside = tmp_path / "elsewhere"  # not the checkout: nothing can come from src/
    outside.mkdir()
    where = subprocess.run(
        [python, "-c", "import clickkit; print(clickkit.__file__)"],
        cwd=outside,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), where

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers, CLICKS_TOPIC=topic, PYTHONUNBUFFERED="1")
    port = free_port()
    demo = subprocess.Popen(
        [python, "-m", "clickkit.demo", "--port", str(port)],
        cwd=outside,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, seen = queue.Queue(), []
    threading.Thread(target=forward_lines, args=(demo.stdout, lines), daemon=True).start()
    try:
        while not any("the live page:" in line for line in seen):
            try:
                line = lines.get(timeout=STARTUP_LIMIT_S)
            except queue.Empty:
                raise AssertionError(f"the installed demo printed no live page address: {''.join(seen)}") from None
            assert line is not None, f"the installed demo exited: {''.join(seen)}"
            seen.append(line)
        live = f"http://127.0.0.1:{port}/live/"
        assert live in "".join(seen)
        page = REPO_ROOT / "src" / "clickkit" / "demo" / "live_page"
        for name, path in (("index.html", ""), ("live.js", "static/live.js"), ("live.css", "static/live.css")):
            answer = requests.get(live + path, timeout=30)
            assert answer.status_code == 200, (name, answer.status_code)
            assert answer.text == (page / name).read_text(encoding="utf-8"), name
        with requests.get(live + "stream", stream=True, timeout=30) as stream:
            first = next(stream.iter_lines(decode_unicode=True))
        assert first.startswith("data: {"), first
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=60)
    assert code == 0, "".join(seen)
