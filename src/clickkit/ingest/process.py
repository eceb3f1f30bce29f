"""Run an ingest server as a process of its own on a loopback port: start it, wait until it answers, stop it."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil

from clickkit.errors import KitError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0  # the servers' graceful timeout is 15 s: in-flight sends finish, producers flush


def cpu_seconds(pid: int) -> float:
    """Return the CPU time used so far by a process and its children (gunicorn's workers)."""
    try:
        process = psutil.Process(pid)
        processes = [process] + process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for each in processes:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass  # a worker that exits between the listing and the reading
    return total


class ServerProcess:
    """A `python -m ...` command serving on `port`, writing to `topic`, its output in `log_path`."""

    def __init__(self, module_args: list, port: int, topic: str, log_path, env: dict | None = None):
        self.command = [sys.executable, "-m", *map(str, module_args)]
        self.port, self.topic, self.log_path = port, topic, log_path
        self.env = env or {}  # on top of this process's environment, e.g. KAFKA_BOOTSTRAP_SERVERS
        self.process = None

    def start(self) -> "ServerProcess":
        """Start the server and wait until it answers HTTP, or raise with its log."""
        env = dict(os.environ, **self.env, CLICKS_TOPIC=self.topic, INGEST_PORT=str(self.port), PYTHONUNBUFFERED="1")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise KitError(
            f"`{' '.join(self.command)}` did not start serving on port {self.port} within "
            f"{START_TIMEOUT_S:.0f}s. Its log, {self.log_path}, says:\n{self.log_tail()}"
        )

    def answers(self) -> bool:
        """Tell whether the server answers HTTP (any status counts: GET /clicks is a 405)."""
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/clicks", timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """Return the CPU time the server has used so far."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """Stop with SIGTERM (so producers flush), then SIGKILL the whole group if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of the server's log."""
        with open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
