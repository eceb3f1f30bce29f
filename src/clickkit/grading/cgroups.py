"""Put a whole sandbox in a control group of its own, where the machine lets the grader make one.

Rlimits count per process (address space) or per user (processes); a control group counts the sandbox as a
whole: all its processes' memory, its /tmp included, and its number of tasks. cgroup v2 where the grader's own
group delegates the controllers; else cgroup v1's memory, pids and cpu hierarchies (hybrid machines, as root).
Where neither can be written (no root, a container without delegation), only the rlimits apply.
"""

import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CPU_WEIGHT = 50  # v2: half the default 100, so the grader and the brokers come first under load
CPU_SHARES = 512  # v1: the same, out of 1024


def group_name(uid: int) -> str:
    return f"clickkit-sandbox-{uid}"


def own_group(controller: str) -> str:
    """Return this process's group in a v1 hierarchy (or "" for the v2 one), from /proc/self/cgroup."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path.lstrip("/")
    return ""


def candidates(name: str) -> list:
    """Return [(folder, {file: value}), ...]: the groups to make, v2 first, else v1's."""
    if (ROOT / "cgroup.controllers").exists():  # a pure v2 machine
        parent = ROOT / own_group("")
        delegated = (parent / "cgroup.subtree_control").read_text().split() if parent.exists() else []
        if not {"memory", "pids"} <= set(delegated):
            return []
        files = {"memory.max": "{memory}", "pids.max": "{pids}"}
        if "cpu" in delegated:  # not always delegated: writing cpu.weight then fails, and with it the whole group
            files["cpu.weight"] = str(CPU_WEIGHT)
        return [(parent / name, files)]
    groups = []
    for controller, files in (
        ("memory", {"memory.limit_in_bytes": "{memory}"}),
        ("pids", {"pids.max": "{pids}"}),
        ("cpu", {"cpu.shares": str(CPU_SHARES)}),
    ):
        if (ROOT / controller).is_dir():
            groups.append((ROOT / controller / own_group(controller) / name, files))
    return groups


def confine(uid: int, memory_bytes: int, pids: int) -> list:
    """Move this process (and so everything it starts) into the sandbox's groups; return what was applied."""
    applied = []
    for folder, files in candidates(group_name(uid)):
        try:
            folder.mkdir(exist_ok=True)
            for file, value in files.items():
                (folder / file).write_text(value.format(memory=memory_bytes, pids=pids))
            (folder / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            continue  # not ours to write: the rlimits still apply
        applied.append(
            f"{folder.relative_to(ROOT)}: "
            + ", ".join(f"{k}={v.format(memory=memory_bytes, pids=pids)}" for k, v in files.items())
        )
    return applied


def remove(uid: int, wait_s: float = 10.0) -> None:
    """Remove the sandbox's groups once its processes are gone."""
    deadline = time.monotonic() + wait_s
    for folder, _ in candidates(group_name(uid)):
        while folder.exists():
            try:
                folder.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # its last processes are still exiting
