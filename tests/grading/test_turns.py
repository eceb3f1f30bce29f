"""The grader's turns to run cells, with real processes in the plugin's place: no more than JOBS run at once."""

import resource
import subprocess
import sys
import threading
import time

import psutil
import pytest

from clickkit.errors import GraderError
from clickkit.grading import cgroups
from clickkit.grading.turns import RunLimits, Turns

# A stand-in for one submission's pytest: it asks for its turn as the plugin does, holds it a moment while it
# counts the runs holding one beside it, and gives it back.
RUN = """
import os, sys, time
from pathlib import Path
from clickkit.grading.turns import TURN_VARIABLE, Turn

name, shared, hold_s = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
wait_for = shared / sys.argv[4] if len(sys.argv) > 4 else None
while wait_for and not wait_for.exists():
    time.sleep(0.02)
turn = Turn(*map(int, os.environ[TURN_VARIABLE].split(",")))
turn.wait()
(shared / f"holding-{name}").touch()
print(len(list(shared.glob("holding-*"))), flush=True)
time.sleep(hold_s)
(shared / f"holding-{name}").unlink()
turn.done()
time.sleep(float(os.environ.get("AFTER_S", "0")))
sys.stdout.write("x" * int(os.environ.get("PRINT_BYTES", "0")))
"""


def run(turns, tmp_path, name, hold_s, *wait_for, budget_s=60.0, env=None, uid=None, code=RUN):
    """Run one stand-in under the turns; return (seconds it waited for its turn, its output)."""
    log = tmp_path / f"{name}.log"
    command = [sys.executable, "-c", code, name, str(tmp_path), str(hold_s), *wait_for]
    with open(log, "w", encoding="utf-8") as output:
        waited = turns.run(command, env or {"PATH": "/usr/bin:/bin"}, output, tmp_path, 60.0, budget_s, uid=uid)
    return waited, log.read_text(encoding="utf-8")


def test_no_more_than_jobs_runs_hold_a_turn_at_once(tmp_path):
    turns = Turns(2)
    outputs = {}
    threads = [
        threading.Thread(target=lambda n=n: outputs.setdefault(n, run(turns, tmp_path, f"run{n}", 0.3)[1]))
        for n in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outputs) == 6, outputs
    counts = [int(text.split()[0]) for text in outputs.values()]
    assert max(counts) <= 2, counts


def test_waiting_for_a_turn_is_not_counted_in_the_budget(tmp_path):
    turns = Turns(1)
    first = threading.Thread(target=run, args=(turns, tmp_path, "first", 6.0))
    first.start()
    # The second asks only once the first holds the turn, then waits up to 6 s: more than its budget of 2 s.
    waited, _ = run(turns, tmp_path, "second", 0.0, "holding-first", budget_s=2.0)
    first.join(timeout=60)
    assert waited > 2.0


def test_a_run_that_overruns_its_budget_is_stopped_and_gives_its_turn_back(tmp_path):
    turns = Turns(1)
    began = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run(turns, tmp_path, "slow", 0.0, budget_s=2.0, env={"PATH": "/usr/bin:/bin", "AFTER_S": "600"})
    assert time.monotonic() - began < 60
    waited, output = run(turns, tmp_path, "next", 0.0)  # the turn is free again
    assert output.split() == ["1"]


def test_stop_all_ends_the_runs_and_starts_no_more(tmp_path):
    turns = Turns(1)
    ended = []

    def slow_run():
        try:
            run(turns, tmp_path, "slow", 600.0)
            ended.append("finished")
        except KeyboardInterrupt:
            ended.append("stopped")

    slow = threading.Thread(target=slow_run)
    slow.start()
    deadline = time.monotonic() + 60
    while not (tmp_path / "holding-slow").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    turns.stop_all()
    slow.join(timeout=30)
    assert not slow.is_alive() and ended == ["stopped"]
    with pytest.raises(KeyboardInterrupt):
        run(turns, tmp_path, "late", 0.0)


def test_a_kernel_that_never_gets_to_ask_is_a_grader_error(tmp_path):
    # Before its turn only the grader's code runs (pytest, the sandbox, the kernel's start): not the student's.
    with open(tmp_path / "log", "w", encoding="utf-8") as output:
        with pytest.raises(GraderError, match="did not start within 1 s"):
            Turns(1).run([sys.executable, "-c", "import time; time.sleep(600)"], {}, output, tmp_path, 1.0, 60.0)


# A grader of one run, which the test kills outright (SIGKILL: no code of the grader runs after it).
GRADER = """
import sys
from clickkit.grading.turns import Turns
Turns(1).run(sys.argv[1:], {"PATH": "/usr/bin:/bin"}, sys.stdout, ".", 60.0, 600.0)
"""


def test_a_run_ends_when_its_grader_is_killed_outright(tmp_path):
    stand_in = [sys.executable, "-c", RUN, "orphan", str(tmp_path), "600"]
    grader = subprocess.Popen([sys.executable, "-c", GRADER, *stand_in], cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "holding-orphan").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    runs = [process for process in psutil.process_iter(["cmdline"]) if process.info["cmdline"] == stand_in]
    assert len(runs) == 1  # holding its turn, for 600 s
    grader.kill()
    grader.wait(timeout=30)
    _, alive = psutil.wait_procs(runs, timeout=30)
    for process in alive:
        process.kill()
    assert not alive, "the run outlived its grader"


def test_what_a_run_prints_past_the_log_cap_is_counted_not_written(tmp_path):
    turns = Turns(1, RunLimits(log_bytes=64 * 2**10))
    _, log = run(turns, tmp_path, "loud", 0.0, env={"PATH": "/usr/bin:/bin", "PRINT_BYTES": str(20 * 2**20)})
    lines = log.splitlines()
    assert lines[0] == "1" and len(log) < 65 * 2**10
    assert (
        lines[-1]
        == f"[{20 * 2**20 + 2 - 64 * 2**10} more bytes of output not kept: the log keeps the first {64 * 2**10}]"
    )


# A stand-in that takes its turn as the plugin does, then says its pid and its address space limit: the grader
# has set its limits by the time it gives a turn, so that no student code ever runs before them.
LIMITS = f"""
{RUN}
import resource
print(os.getpid(), resource.getrlimit(resource.RLIMIT_AS)[0], flush=True)
"""


def test_a_run_with_no_control_group_has_its_address_space_limited(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "candidates", lambda name, weighted=True: [])
    _, log = run(Turns(1), tmp_path, "limited", 0.0, uid=4242, code=LIMITS)
    assert int(log.split()[2]) == RunLimits().address_bytes != resource.getrlimit(resource.RLIMIT_AS)[0]
    assert "no control group here" in log


def test_a_run_goes_into_a_control_group_of_its_own_with_no_cpu_share(tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    (root / "grader").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "grader" / "cgroup.subtree_control").write_text("cpu memory pids\n")
    monkeypatch.setattr(cgroups, "ROOT", root)
    monkeypatch.setattr(cgroups, "own_group", lambda controller: "grader")
    _, log = run(Turns(1), tmp_path, "grouped", 0.0, uid=4242, code=LIMITS)
    group = root / "grader" / "clickkit-run-4242"
    assert (group / "cgroup.procs").read_text() == log.split()[1]  # the run's pid
    assert (group / "memory.max").read_text() == str(RunLimits().memory_bytes)
    assert (group / "pids.max").read_text() == str(RunLimits().tasks)
    assert not (group / "cpu.weight").exists()  # the grader's side is not held back as the sandbox is
    assert "Grader's pytest control group: grader/clickkit-run-4242" in log
