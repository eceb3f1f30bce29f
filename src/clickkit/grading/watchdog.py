"""Clean up after a grader that was killed outright (kill -9): its private brokers, and its sandboxes' folders.

A grader that stops as asked (Ctrl+C, SIGTERM) cleans up by itself. One killed with SIGKILL runs no more code, so
a watchdog process started beside it waits for the end of a pipe that only the grader holds open; when the pipe
ends, the watchdog stops the brokers and sandboxes and removes the folders that name the grader as their owner. Its
pytest runs end by themselves (the plugin's Turn watches the same kind of pipe), and with them their sandboxes.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from clickkit.grading import cgroups, sandbox

OWNER_FILE = "grader"  # in each folder a grader makes: its pid, and the sandbox's user id for a submission
BROKERS_PREFIX = "clickkit-grading-kafka-"  # the private brokers' folder, under $TMPDIR
WORK_PREFIX = "clickkit-grade-"  # each submission's folder, under WORK_ROOT
# Not $TMPDIR, which may be long: the kernel's and the broker link's Unix sockets live in a submission's folder,
# and a socket's path may not exceed 107 bytes. The sandbox is Linux's (bubblewrap), where /tmp always exists.
WORK_ROOT = "/tmp"
AGAIN_AFTER_S = 2.0
_held = None  # the grader's end of the pipe, open until the grader process ends


def owned_folder(prefix: str, root: str | None = None, uid: int | None = None) -> Path:
    """Make a fresh folder that names this grader (and the sandbox's user) as its owner, for the watchdog."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    (folder / OWNER_FILE).write_text(f"{os.getpid()} {uid or ''}\n", encoding="utf-8")
    return folder


def start() -> None:
    """Start this grader process's watchdog, once; it acts when the process ends, however it ends."""
    global _held
    if _held is not None:
        return
    watched, _held = os.pipe()  # neither end inheritable: no other child of the grader keeps the pipe open
    subprocess.Popen(
        [sys.executable, "-m", "clickkit.grading.watchdog", str(watched), str(os.getpid())],
        pass_fds=(watched,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl+C to the grader's terminal must not end it before the grader
    )
    os.close(watched)


def owned_by(pid: int):
    """Yield (folder, uid) of every folder the grader `pid` claimed and left behind."""
    for folder in [*Path(tempfile.gettempdir()).glob(BROKERS_PREFIX + "*"), *Path(WORK_ROOT).glob(WORK_PREFIX + "*")]:
        with contextlib.suppress(OSError, ValueError):
            owner, _, uid = (folder / OWNER_FILE).read_text(encoding="utf-8").strip().partition(" ")
            if int(owner) == pid:
                yield folder, int(uid) if uid else None


def kill_leftovers(folder: Path, uid: int | None) -> None:
    """Kill what still runs of the grader's in `folder`: any process that names a path in it, or runs as its uid."""
    # A broker's command names its server.properties, a sandbox's bwrap its bind mounts; never trust a file that a
    # submission's code could write. The sandbox's user is leased to one sandbox at a time.
    for process in psutil.process_iter(["cmdline", "uids"]):
        command, uids = process.info["cmdline"] or [], process.info["uids"]
        sandboxed = uid is not None and uids is not None and uids.real == uid != os.getuid()
        if sandboxed or any(part.startswith(f"{folder}/") for part in command):
            with contextlib.suppress(psutil.Error):
                process.kill()


def clean_up(pid: int) -> None:
    """Stop the brokers and sandboxes, and remove the folders (mounts, control groups) that grader `pid` left."""
    left = list(owned_by(pid))
    for folder, uid in left:
        kill_leftovers(folder, uid)
        if os.path.ismount(folder / "submission"):
            sandbox.unmount_folder(folder / "submission")
        if uid is not None:
            cgroups.remove(uid)
        shutil.rmtree(folder, ignore_errors=True)
    if left:  # a process the grader had forked but not yet started when it died shows its command only now
        time.sleep(AGAIN_AFTER_S)
        for folder, uid in left:
            kill_leftovers(folder, uid)


def main(argv=None) -> None:
    """Wait for the grader's pipe to end, then clean up what it left."""
    watched, pid = map(int, sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.read(watched, 1):
        pass
    clean_up(pid)


if __name__ == "__main__":
    main()
