"""Put a whole sandbox, or a submission's pytest run, in a control group of its own, where the grader may make one.

Rlimits count per process (address space) or per user (processes); a control group counts the sandbox as a
whole: all its processes' memory, its /tmp included, and its number of tasks. cgroup v2 where the grader's own
group delegates the controllers; else cgroup v1's memory, pids and cpu hierarchies (hybrid machines, as root).
Where neither can be written (no root, a container without delegation), only the rlimits apply.
"""

import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
OWN = Path("/proc/self/cgroup")  # this process's groups
CPU_WEIGHT = 50  # v2: half the default 100, so the grader and the brokers come first under load
CPU_SHARES = 512  # v1: the same, out of 1024
SANDBOX, RUN = "sandbox", "run"  # a submission's two groups, named by its sandbox's user: its kernel, its pytest


def group_name(uid: int, role: str = SANDBOX) -> str:
    return f"clickkit-{role}-{uid}"


def is_run_group(name: str) -> bool:
    return name.startswith(f"clickkit-{RUN}-")


def own_group(controller: str) -> str:
    """Return the grader's group in a v1 hierarchy (or "" for the v2 one), from /proc/self/cgroup."""
    for line in OWN.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            parent, _, last = path.strip("/").rpartition("/")
            # A sandbox starts in its run's group: its own goes beside that one, never under it and its limits.
            return parent if is_run_group(last) else path.strip("/")
    return ""


def candidates(name: str, weighted: bool = True) -> list:
    """Return [(folder, {file: value}), ...]: the groups to make, v2 first, else v1's; unweighted: no CPU share."""
    if (ROOT / "cgroup.controllers").exists():  # a pure v2 machine
        parent = ROOT / own_group("")
        delegated = (parent / "cgroup.subtree_control").read_text().split() if parent.exists() else []
        if not {"memory", "pids"} <= set(delegated):
            return []
        files = {"memory.max": "{memory}", "pids.max": "{pids}"}
        if (
            "cpu" in delegated and weighted
        ):  # not always delegated: writing cpu.weight then fails, and with it the whole group
            files["cpu.weight"] = str(CPU_WEIGHT)
        return [(parent / name, files)]
    groups = []
    for controller, files in (
        ("memory", {"memory.limit_in_bytes": "{memory}"}),
        ("pids", {"pids.max": "{pids}"}),
        ("cpu", {"cpu.shares": str(CPU_SHARES)}),
    ):
        if (ROOT / controller).is_dir() and (weighted or controller != "cpu"):
            groups.append((ROOT / controller / own_group(controller) / name, files))
    return groups


def confine(uid: int, memory_bytes: int, pids: int, pid: int = 0, role: str = SANDBOX) -> list:
    """Move process `pid` (this one by default), and so all it starts next, into the role's groups; say what applied."""
    applied = []
    for folder, files in candidates(group_name(uid, role), weighted=role == SANDBOX):
        try:
            folder.mkdir(exist_ok=True)
            for file, value in files.items():
                (folder / file).write_text(value.format(memory=memory_bytes, pids=pids))
            (folder / "cgroup.procs").write_text(str(pid or os.getpid()))
        except OSError:
            continue  # not ours to write: the rlimits still apply
        applied.append(
            f"{folder.relative_to(ROOT)}: "
            + ", ".join(f"{k}={v.format(memory=memory_bytes, pids=pids)}" for k, v in files.items())
        )
    return applied


def remove(uid: int, wait_s: float = 10.0) -> None:
    """Remove the groups of the submission graded as `uid` (its sandbox's, its run's) once their processes are gone."""
    deadline = time.monotonic() + wait_s
    for folder, _ in [group for role in (SANDBOX, RUN) for group in candidates(group_name(uid, role))]:
        while folder.exists():
            try:
                folder.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # its last processes are still exiting
