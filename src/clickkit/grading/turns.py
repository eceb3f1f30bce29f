"""Turns to run cells: JOBS notebooks run their cells at once, while others start up or have their endpoint probed.

Most of a submission's time is waiting that the contract asks for (Kafka's timeouts, held acknowledgements), so
the grader overlaps it: a submission's pytest starts its kernel early and then asks for a turn (Turn, in the plugin);
once its cells have run, it gives the turn back and the grader probes its endpoint while the next one runs.
"""

import os
import resource
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from clickkit.errors import GraderError
from clickkit.grading import cgroups, sandbox

TURN_VARIABLE = "CLICKKIT_GRADE_TURN"  # two pipe ends for pytest: its "ready" and "cells done", the grader's "go"
READY, GO, CELLS_DONE = b"R", b"G", b"C"
CHUNK_BYTES = 64 * 2**10
LINGER_S = 0.5  # once pytest has ended: what it wrote is in the pipe already, read within this time


@dataclass(frozen=True)
class RunLimits:
    """What one submission's pytest may use: the grader's side of it (nbval, the probes, the broker link)."""

    memory_bytes: int = 2**30  # its control group, where the grader may make one; it uses about 110 MiB
    tasks: int = 256  # its threads and processes: it runs about 20, 40 at most
    address_bytes: int = 8 * 2**30  # address space, where no group can be made: threads reserve much more than they use
    log_bytes: int = 4 * 2**20  # of what it prints, kept in the submission's log; the rest is counted, not written


# One submission's worst case, where the grader may make both its control groups (as root on cgroup v1; v2 with
# memory and pids delegated): its sandbox's group (its kernel, /tmp and folder included) and its pytest's group.
SUBMISSION_MEMORY_BYTES = sandbox.Limits().group_memory_bytes + RunLimits().memory_bytes  # 4 GiB
SUBMISSION_TASKS = sandbox.Limits().processes + RunLimits().tasks  # 512 processes and threads


class Turn:
    """The submission's side, in the plugin: ask for a turn to run the cells, and say when they are done."""

    def __init__(self, from_grader: int, to_grader: int):
        self.from_grader, self.to_grader, self.asked = from_grader, to_grader, False
        for end in (from_grader, to_grader):
            os.set_inheritable(end, False)  # the kernel, the student's code, must never hold the grader's pipe
        self.given = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def wait(self) -> None:
        """Ask for a turn and wait for it."""
        self.asked = True
        try:
            os.write(self.to_grader, READY)
        except BrokenPipeError:
            end_run()
        self.given.wait()

    def _watch(self) -> None:
        """Take the grader's go; end this run when the grader goes, even killed outright (its pipe ends)."""
        while os.read(self.from_grader, 1):
            self.given.set()
        end_run()

    def done(self) -> None:
        """Give the turn back: the cells have run."""
        try:
            os.write(self.to_grader, CELLS_DONE)
        except OSError:
            pass  # the grader has gone: this run is being stopped anyway


def end_run() -> None:
    """Kill this pytest run's process group (pytest, its kernel, its sandbox): nobody is left to grade it."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


class Turns:
    """JOBS turns to run cells, and every pytest run still alive, so that a stop can end them all."""

    def __init__(self, jobs: int, limits: RunLimits = RunLimits()):
        self.jobs, self.limits = max(1, jobs), limits
        self._turns = threading.Semaphore(self.jobs)
        self._alive: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def run(self, command: list, env: dict, output, cwd, start_up_s: float, budget_s: float, uid=None) -> float:
        """Run one submission's pytest, giving it a turn when it asks; return seconds it waited for the turn.

        What it prints goes to the file `output`, up to the limits' log_bytes. Given `uid`, the sandbox's user,
        it runs in a control group of its own (else with its address space limited). Raise GraderError when it has
        not asked within start_up_s, and subprocess.TimeoutExpired when it overruns budget_s once it has its turn
        (the wait for a turn is the grader's, not the submission's).
        """
        from_grader, go_end = os.pipe()
        events, to_grader = os.pipe()
        env = dict(env, **{TURN_VARIABLE: f"{from_grader},{to_grader}"})
        log = CappedLog(output, self.limits.log_bytes)
        with self._lock:
            try:
                if self.stopping:
                    raise KeyboardInterrupt("the grader is stopping")
                process = subprocess.Popen(
                    command,
                    env=env,
                    stdout=log.write_end,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    pass_fds=(from_grader, to_grader),
                    start_new_session=True,  # a stop ends the whole group: pytest, its kernel and its sandbox
                )
            except BaseException:
                log.close()
                for end in (from_grader, go_end, events, to_grader):
                    os.close(end)
                raise
            self._alive.add(process)
        log.start()
        os.close(from_grader)
        os.close(to_grader)
        holding, waited, asked, notes = False, 0.0, 0.0, []
        deadline = time.monotonic() + start_up_s
        try:
            if uid is not None:
                notes = confine(process.pid, uid, self.limits)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 and not asked:  # no student code runs before its turn: the grader's fault
                    raise GraderError(f"the sandboxed kernel did not start within {start_up_s:.0f} s")
                if left <= 0:
                    raise subprocess.TimeoutExpired(command, budget_s)
                if not select.select([events], [], [], left)[0]:
                    continue
                event = os.read(events, 1)
                if not event:
                    break  # pytest has ended
                if event == READY and not asked:
                    asked = time.monotonic()
                    self._turns.acquire()
                    holding, waited = True, time.monotonic() - asked
                    deadline = time.monotonic() + budget_s
                    try:
                        os.write(go_end, GO)
                    except OSError:
                        pass  # pytest ended meanwhile: end of file comes next
                elif event == CELLS_DONE and holding:
                    self._turns.release()
                    holding = False
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
            if process.returncode == -signal.SIGKILL and not self.stopping:
                notes.append("Grader's pytest was killed (SIGKILL): over its memory limit, or its grader had ended")
            if self.stopping:
                raise KeyboardInterrupt("the grader is stopping")  # this run was ended, not finished
            return waited
        finally:
            if holding:
                self._turns.release()
            os.close(events)
            os.close(go_end)
            if process.poll() is None:
                stop_group(process)
            with self._lock:
                self._alive.discard(process)
            log.close(notes)

    def stop_all(self) -> None:
        """End every pytest run still alive, and start no more."""
        with self._lock:
            self.stopping = True
            alive = list(self._alive)
        for process in alive:
            stop_group(process)


def confine(pid: int, uid: int, limits: RunLimits) -> list:
    """Put a run in its control group, else limit its address space; return what applied, for its log."""
    applied = cgroups.confine(uid, limits.memory_bytes, limits.tasks, pid=pid, role=cgroups.RUN)
    if applied:
        return [f"Grader's pytest control group: {line}" for line in applied]
    try:
        _, hard = resource.prlimit(pid, resource.RLIMIT_AS)
        # The soft limit only: the sandbox's prlimit sets the kernel's own limit, which it may raise up to `hard`.
        resource.prlimit(pid, resource.RLIMIT_AS, (limits.address_bytes, hard))
    except ProcessLookupError:
        return ["Grader's pytest ended before its limits were set"]
    return [f"Grader's pytest: no control group here; address space limited to {limits.address_bytes} bytes"]


class CappedLog:
    """A pipe for a run's output, copied into the log file by a thread until the cap; the rest is only counted."""

    def __init__(self, output, cap_bytes: int):
        output.flush()  # what the grader wrote first stays first
        self.fd, self.cap, self.written, self.dropped, self.last = output.fileno(), cap_bytes, 0, 0, b"\n"
        self.read_end, self.write_end = os.pipe()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._copy, daemon=True)

    def start(self) -> None:
        """Start copying, once the run holds the pipe's write end (ours is closed: its end of file is the run's)."""
        os.close(self.write_end)
        self.thread.start()

    def _copy(self) -> None:
        while True:
            if not select.select([self.read_end], [], [], LINGER_S)[0]:
                if self.ended.is_set():
                    return  # a process the run left may hold the pipe: what it writes from now on is not read
                continue
            chunk = os.read(self.read_end, CHUNK_BYTES)
            if not chunk:
                return
            kept = chunk[: max(0, self.cap - self.written)]
            write_all(self.fd, kept)
            self.written, self.dropped = self.written + len(kept), self.dropped + len(chunk) - len(kept)
            self.last = kept[-1:] or self.last

    def close(self, notes=()) -> None:
        """Stop copying once the run has ended, and end the log with what was dropped and the notes."""
        if self.thread.ident is None:
            os.close(self.write_end)  # never started: there was no run
        else:
            self.ended.set()
            self.thread.join()
        os.close(self.read_end)
        lines = list(notes)
        if self.dropped:
            lines.insert(0, f"[{self.dropped} more bytes of output not kept: the log keeps the first {self.cap}]")
        if lines and self.last != b"\n":
            lines.insert(0, "")  # the notes start on a line of their own
        write_all(self.fd, "\n".join(lines).encode() + b"\n" if lines else b"")


def write_all(fd: int, data: bytes) -> None:
    """Write all of data, however little each write takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def stop_group(process: subprocess.Popen) -> None:
    """Kill a pytest run's process group and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
