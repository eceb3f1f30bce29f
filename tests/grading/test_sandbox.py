"""The sandboxed kernel's life: it never outlives the pytest run that started it, however early that run ends."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from jupyter_client.connect import write_connection_file

from clickkit.grading import cgroups, sandbox
from clickkit.grading.users import SandboxUsers

# A stand-in for a submission's pytest: it starts the sandboxed kernel as jupyter_client does (a session of its own,
# JPY_PARENT_PID), prints its pid, and then either ends at once, before the kernel has started, or stays.
RUN = """
import os, subprocess, sys, time
stays, connection = sys.argv[1] == "stays", sys.argv[2]
kernel = subprocess.Popen(
    [sys.executable, "-m", "clickkit.grading.sandbox", "-f", connection],
    env=dict(os.environ, JPY_PARENT_PID=str(os.getpid())),
    start_new_session=True,
)
print(kernel.pid, flush=True)
if stays:
    time.sleep(600)
"""


@pytest.fixture
def submission():
    """Yield (a submission's folder with its connection file, the environment the grader gives its pytest)."""
    with SandboxUsers().lease() as uid:
        work = Path(tempfile.mkdtemp(prefix="clickkit-sandbox-test-", dir="/tmp"))  # short: Unix socket paths
        folder, link = work / "submission", work / "link"
        folder.mkdir()
        link.mkdir(mode=0o755)
        write_connection_file(str(folder / "connection.json"), transport="ipc", ip=str(folder / "kernel"))
        sandbox.prepare_folder(folder, uid)
        env = dict(
            os.environ,
            **{
                sandbox.FOLDER_VARIABLE: str(folder),
                sandbox.UID_VARIABLE: str(uid),
                sandbox.LINK_VARIABLE: str(link),
                sandbox.KAFKA_PORT_VARIABLE: "9092",
            },
        )
        try:
            yield folder, env
        finally:
            for process in psutil.process_iter(["cmdline"]):  # what a failing test leaves must not outlive it
                if any(str(work) in part for part in process.info["cmdline"] or []):
                    process.kill()
            cgroups.remove(uid)
            shutil.rmtree(work, ignore_errors=True)


def start(how: str, folder: Path, env: dict) -> tuple[subprocess.Popen, psutil.Process]:
    """Start a stand-in run that `how` ("ends" or "stays"); return it and its kernel's first process."""
    run = subprocess.Popen(
        [sys.executable, "-c", RUN, how, str(folder / "connection.json")], env=env, stdout=subprocess.PIPE, text=True
    )
    return run, psutil.Process(int(run.stdout.readline()))


def sandbox_processes(kernel: psutil.Process) -> list:
    """Return the kernel's process (bwrap, once it has started) and all it started, while they run."""
    try:
        return [kernel, *kernel.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def commands(processes: list) -> list:
    """Return the command lines of those processes still running."""
    found = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found.append(" ".join(process.cmdline())[:200])
    return found


def test_a_sandbox_whose_run_ended_before_it_started_does_not_run(submission):
    folder, env = submission
    run, kernel = start("ends", folder, env)
    run.wait(timeout=30)  # gone while the kernel's Python is still starting: bwrap has not made its namespaces
    _, alive = psutil.wait_procs([kernel], timeout=60)
    assert not alive, f"an orphaned sandbox runs on: {commands(sandbox_processes(kernel))}"


def test_a_running_sandbox_ends_with_its_run(submission):
    folder, env = submission
    run, kernel = start("stays", folder, env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            "ipykernel_launcher" in command for command in commands(sandbox_processes(kernel))
        ):
            time.sleep(0.2)
        inside = sandbox_processes(kernel)
        assert any("ipykernel_launcher" in command for command in commands(inside)), "the sandbox never started"
    finally:
        run.kill()
        run.wait(timeout=30)
    _, alive = psutil.wait_procs(inside, timeout=60)
    assert not alive, f"the sandbox outlived its run: {commands(alive)}"


def test_the_bridge_puts_its_endpoint_socket_in_place_of_whatever_was_there():
    with tempfile.TemporaryDirectory(dir="/tmp") as work:  # short: Unix socket paths
        host, endpoint = Path(work) / "host.sock", Path(work) / sandbox.ENDPOINT_SOCKET
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(host))
        listener.listen(8)
        endpoint.symlink_to(host)  # the grader trusts only a socket of the sandbox's user: the bridge makes its own
        check = f"import os, stat, sys; sys.exit(0 if stat.S_ISSOCK(os.lstat({str(endpoint)!r}).st_mode) else 3)"
        bridged = subprocess.run(
            [sys.executable, "-m", "clickkit.grading.bridge", "--endpoint", f"{endpoint}={sandbox.ENDPOINT_PORT}"]
            + ["--", sys.executable, "-c", check],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bridged.returncode == 0, bridged.stderr[-2000:]  # the bridge's own socket, not the link
        assert host.is_socket()  # the link went, not what it pointed to
        listener.close()


def test_the_broker_links_folder_is_shown_read_only_inside():
    with tempfile.TemporaryDirectory(dir="/tmp") as work:
        folder, link = Path(work) / "submission", Path(work) / "link"
        folder.mkdir()
        link.mkdir()
        argv = sandbox.command(["true"], folder, 65_534, link=link)
        binds = ("--bind", "--bind-try", "--ro-bind", "--ro-bind-try")
        mounts = [argv[n : n + 3] for n, part in enumerate(argv) if part in binds]
        assert ["--ro-bind", str(link), str(link)] in mounts  # its socket may be connected to, never replaced
        assert not [mount for mount in mounts if str(link) in mount and mount[0] != "--ro-bind"]
