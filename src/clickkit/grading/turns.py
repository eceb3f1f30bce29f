"""Turns to run cells: JOBS notebooks run their cells at once, while others start up or have their endpoint probed.

Most of a submission's time is waiting that the contract asks for (Kafka's timeouts, held acknowledgements), so
the grader overlaps it: a submission's pytest starts its kernel early and then asks for a turn (Turn, in the plugin);
once its cells have run, it gives the turn back and the grader probes its endpoint while the next one runs.
"""

import os
import select
import signal
import subprocess
import threading
import time

from clickkit.errors import GraderError

TURN_VARIABLE = "CLICKKIT_GRADE_TURN"  # two pipe ends for pytest: its "ready" and "cells done", the grader's "go"
READY, GO, CELLS_DONE = b"R", b"G", b"C"


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

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self._turns = threading.Semaphore(self.jobs)
        self._alive: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def run(self, command: list, env: dict, output, cwd, start_up_s: float, budget_s: float) -> float:
        """Run one submission's pytest, giving it a turn when it asks; return seconds it waited for the turn.

        Raise GraderError when it has not asked within start_up_s, and subprocess.TimeoutExpired when it
        overruns budget_s once it has its turn (the wait for a turn is the grader's, not the submission's).
        """
        from_grader, go_end = os.pipe()
        events, to_grader = os.pipe()
        env = dict(env, **{TURN_VARIABLE: f"{from_grader},{to_grader}"})
        with self._lock:
            if self.stopping:
                raise KeyboardInterrupt("the grader is stopping")
            process = subprocess.Popen(
                command,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                pass_fds=(from_grader, to_grader),
                start_new_session=True,  # a stop ends the whole group: pytest, its kernel and its sandbox
            )
            self._alive.add(process)
        os.close(from_grader)
        os.close(to_grader)
        holding, waited, asked = False, 0.0, 0.0
        deadline = time.monotonic() + start_up_s
        try:
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

    def stop_all(self) -> None:
        """End every pytest run still alive, and start no more."""
        with self._lock:
            self.stopping = True
            alive = list(self._alive)
        for process in alive:
            stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """Kill a pytest run's process group and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
