"""The grader's pytest plugin for a notebook's cells: their time, their output, and which of them failed.

The grader's plugin (plugin.py) loads it. On its own it runs a notebook as the grader would, without the rubric:

    pytest NOTEBOOK --nbval-lax --nbval-current-env -p clickkit.grading.cells
"""

import functools
import os
import resource
import time
from pathlib import Path

import nbval.kernel
import nbval.plugin
import pytest
from nbval.plugin import IPyNbCell

from clickkit.grading import sandbox
from clickkit.grading.kernel_client import CappedKernel, GradedKernelManager, Outputs, SandboxKernelManager

REPR_CHARS = 4_000  # of a failure's text in the log and the JUnit file (a cell's source, a traceback, a verdict)
CELL_REPR_CHARS = 200_000  # of all the cells' failure texts together: the JUnit file stays small, however many
PROBLEM_CHARS = 150  # of each cell's problem, in the feedback


def pytest_addoption(parser):
    group = parser.getgroup("clickkit grading")
    group.addoption("--grade-notebook-timeout", type=float, default=180.0, help="seconds for all the cells")
    group.addoption("--grade-output-cap", type=int, default=100_000, help="characters of output allowed")


def pytest_configure(config):
    config.cells = Cells(config)
    if os.environ.get(sandbox.LINK_VARIABLE):
        owner = sandbox.socket_owner(int(os.environ[sandbox.UID_VARIABLE]))
        folder = Path(os.environ[sandbox.FOLDER_VARIABLE])
        nbval.kernel.KernelManager = functools.partial(SandboxKernelManager, folder=folder, owner=owner)
    else:
        nbval.kernel.KernelManager = GradedKernelManager
    nbval.plugin.RunningKernel = functools.partial(CappedKernel, outputs=config.cells.outputs)


def pytest_collection_modifyitems(items):
    """Run every cell, whatever nbval markers the notebook has: none may skip a cell or let its error pass."""
    for item in items:
        if isinstance(item, IPyNbCell):
            item.options["skip"] = item.options["check_exception"] = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip the cells left once the notebook has used up its time (the rubric still runs)."""
    cells = item.config.cells
    if isinstance(item, IPyNbCell):
        cells.started = cells.started or time.monotonic()
        if time.monotonic() - cells.started > cells.notebook_s:
            cells.problems.append(f"cell {item.cell_num}: not run, the notebook used up its {cells.notebook_s:.0f} s")
            pytest.skip("the notebook used up its time")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Note each cell's problem; cut every failure's text short, for the log and the JUnit file."""
    report = (yield).get_result()
    cells = item.config.cells
    if isinstance(item, IPyNbCell) and call.when == "call":
        cells.saw(item, report)
    if report.longrepr is None:
        return
    text, room = str(report.longrepr), REPR_CHARS
    if isinstance(item, IPyNbCell):  # the rubric's few checks keep theirs whole
        room = max(0, min(room, CELL_REPR_CHARS - cells.repr_chars))
        cells.repr_chars += min(len(text), room)
    if len(text) > room:
        report.longrepr = f"{text[:room]}\n[{len(text) - room} more characters of this failure not shown]"


def pytest_terminal_summary(terminalreporter, config):
    """Tell the instructor's log each cell's problem, the output counted, and this process's peak memory."""
    cells = config.cells
    for problem in cells.problems:
        terminalreporter.write_line(f"Cell problem: {problem}")
    terminalreporter.write_line(cells.outputs.summary())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    terminalreporter.write_line(f"Grader's pytest peak memory: {peak_mib} MiB")


class Cells:
    """What a notebook's cells have shown so far: their problems, and their output."""

    def __init__(self, config):
        self.notebook_s = config.getoption("grade_notebook_timeout")
        self.outputs = Outputs(config.getoption("grade_output_cap"))
        self.started, self.problems, self.repr_chars = 0.0, [], 0

    def saw(self, item, report) -> None:
        """Note the cell's problem, if it had one: from the error it showed, else from the kernel's reply."""
        kernel = item.parent.kernel
        request, reply = getattr(kernel, "request", None), getattr(kernel, "reply", None)
        if kernel is not None:
            kernel.request = kernel.reply = None  # a next cell that never runs must not inherit them
        errors = [out for out in getattr(item, "test_outputs", None) or [] if out.get("output_type") == "error"]
        failed = errors[0] if errors else None
        if failed is None and reply is not None and reply["status"] == "error":
            failed = reply  # an error the notebook's own hooks hid from the output: the kernel still replies "error"
        if failed is not None:
            name, value = failed["ename"], str(failed["evalue"])
            if name == "KeyboardInterrupt" and item.parent.timed_out:
                name, value = "Timeout", "the cell did not finish within its time limit"
            problem = f"{name}: {value}"
        elif report.failed:
            text = str(report.longrepr)
            if "Timeout" in text:
                problem = "Timeout: the cell did not finish within its time limit, and could not be interrupted"
            elif "Kernel dead" in text or "kernel died" in text.lower():
                problem = "the kernel died (did the code call exit(), crash Python, or use too much memory?)"
            else:
                problem = (text.strip().splitlines() or ["the cell failed"])[0]
        elif request is not None and reply is None:  # interrupted at its time limit, the interruption not shown
            problem = "Timeout: the cell did not finish within its time limit"
        else:
            return
        self.problems.append(f"cell {item.cell_num}: {problem[:PROBLEM_CHARS]}")
