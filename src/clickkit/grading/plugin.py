"""The grader's pytest plugin: after nbval has run a submission's cells, test its live endpoint, one test per check.

Run one submission by hand (the grader prints this command for each one in its log):

    python -m pytest submission.ipynb -p clickkit.grading.plugin --nbval --nbval-lax --grade-results=out.json
"""

import json
import time
from pathlib import Path
from queue import Empty

import pytest
from nbval.plugin import IPyNbCell

from clickkit.grading import rubric
from clickkit.config import load_settings
from clickkit.ports import free_port, port_is_open

# Run in the kernel after the last cell when nothing answers on INGEST_PORT: serve the app served last.
# Both snippets stand alone, so that they also work on a notebook run without the grader's setup cell.
SERVE_AGAIN_CODE = """
import flask as _grader_flask
from clickkit.course.notebook_server import BackgroundServer as _GraderServer
_grader_app = (globals().get("_grader_served") or [globals().get("app")])[-1]
if isinstance(_grader_app, _grader_flask.Flask):
    globals().get("_grader_start", _GraderServer.start)(_GraderServer(_grader_app, port={port}))
"""
# A second app from the student's own factory, whose Kafka address the grader cuts, then restores.
OUTAGE_CODE = """
from clickkit.broker.gate import KafkaGate as _GraderGate
from clickkit.course.notebook_server import BackgroundServer as _GraderServer
_grader_gate = _GraderGate({bootstrap!r})
_grader_cut = create_app({{"KAFKA_BOOTSTRAP_SERVERS": _grader_gate.address}})
globals().get("_grader_start", _GraderServer.start)(_GraderServer(_grader_cut, port={port}))
"""
RECOVERY_S = 30.0


class RubricFailure(AssertionError):
    """A rubric check the submission failed."""


def pytest_addoption(parser):
    group = parser.getgroup("clickkit grading")
    group.addoption("--grade-results", help="write every check's verdict to this JSON file")
    group.addoption("--grade-notebook-timeout", type=float, default=180.0, help="seconds for all the cells")
    group.addoption("--grade-output-cap", type=int, default=100_000, help="characters of output allowed")
    group.addoption("--grade-check", action="append", default=[], help="run only this rubric check (repeatable)")


def pytest_configure(config):
    config.grading = Grading(config)


def pytest_collection_modifyitems(session, config, items):
    """Append one test per rubric check, inside the notebook's file node so that its kernel is still alive."""
    cells = [item for item in items if isinstance(item, IPyNbCell)]
    if not cells:
        return
    chosen = config.getoption("grade_check") or [check.key for check in rubric.RUBRIC]
    unknown = set(chosen) - set(rubric.CHECKS)
    if unknown:
        raise pytest.UsageError(f"unknown check(s) {sorted(unknown)}; the checks are {list(rubric.CHECKS)}")
    items[:] = cells + [RubricItem.from_parent(cells[0].parent, name=f"rubric::{key}", key=key) for key in chosen]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip the cells left once the notebook has used up its time: the rubric still runs."""
    grading = item.config.grading
    if isinstance(item, IPyNbCell):
        grading.started = grading.started or time.monotonic()
        if time.monotonic() - grading.started > grading.notebook_s:
            grading.cell_errors.append(f"cell {item.cell_num}: not run, the notebook used up its "
                                       f"{grading.notebook_s:.0f} s")
            pytest.skip("the notebook used up its time")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Note each cell's error and output size, for runs_cleanly."""
    report = (yield).get_result()
    if isinstance(item, IPyNbCell) and call.when == "call":
        item.config.grading.saw_cell(item, report)


def pytest_sessionstart(session):
    """Note where the topic ends before the notebook runs: the grader reads only what comes after."""
    settings = load_settings()
    session.config.grading.topic_start = rubric.topic_start(settings.bootstrap_servers, settings.topic)


def pytest_sessionfinish(session):
    session.config.grading.write()


class Grading:
    """What one submission's run has shown so far, and the verdicts once the endpoint is probed."""

    def __init__(self, config):
        self.config = config
        self.notebook_s = config.getoption("grade_notebook_timeout")
        self.output_cap = config.getoption("grade_output_cap")
        self.started, self.output_chars, self.cell_errors, self.topic_start = 0.0, 0, [], {}
        self.verdicts, self.grader_error = None, None

    def saw_cell(self, item, report) -> None:
        outputs = getattr(item, "test_outputs", None) or []
        self.output_chars += sum(len(json.dumps(out.get("text", out.get("data", "")))) for out in outputs)
        errors = [out for out in outputs if out.get("output_type") == "error"]
        if errors:
            name, value = errors[0]["ename"], str(errors[0]["evalue"])
            if name == "KeyboardInterrupt" and item.parent.timed_out:
                name, value = "Timeout", "the cell did not finish within its time limit"
            self.cell_errors.append(f"cell {item.cell_num}: {name}: {value[:150]}")
        elif report.failed:
            text = str(report.longrepr)
            if "Timeout" in text:
                problem = "Timeout: the cell did not finish within its time limit, and could not be interrupted"
            elif "Kernel dead" in text or "kernel died" in text.lower():
                problem = "the kernel died (did the code call exit(), crash Python, or use too much memory?)"
            else:
                problem = text.strip().splitlines()[0][:150]
            self.cell_errors.append(f"cell {item.cell_num}: {problem}")

    def judge(self, nbfile) -> dict:
        """Probe the endpoint once, with Kafka up, then cut off, then back; return every check's verdict."""
        if self.verdicts is None:
            try:
                self.verdicts = self._probe_and_judge(nbfile)
            except Exception as error:  # a grader or Kafka failure is not the student's: it stops the grading
                self.grader_error = f"{type(error).__name__}: {error}"
                raise
        return self.verdicts

    def _probe_and_judge(self, nbfile) -> dict:
        settings, kernel = load_settings(), nbfile.kernel
        alive = kernel is not None and kernel.is_alive()
        port = settings.ingest_port
        if alive and not port_is_open(port):
            run_in_kernel(kernel, SERVE_AGAIN_CODE.format(port=port))
        probes = rubric.probe(f"http://127.0.0.1:{port}/clicks", rubric.Probes())
        probes.outage = probe_outage(kernel, settings.bootstrap_servers) if alive else \
            {"503": "not checked: the kernel had died"}
        values = rubric.marked_records(settings.bootstrap_servers, settings.topic, self.topic_start, probes.marker)
        capped = self.output_chars > self.output_cap
        return rubric.judge(probes, values, self.cell_errors, capped)

    def write(self) -> None:
        path = self.config.getoption("grade_results")
        if path:
            verdicts = {key: vars(verdict) for key, verdict in (self.verdicts or {}).items()}
            Path(path).write_text(json.dumps({"verdicts": verdicts, "grader_error": self.grader_error,
                                               "cell_errors": self.cell_errors}, indent=1), encoding="utf-8")


class RubricItem(pytest.Item):
    """One rubric check, as a test of the submission."""

    def __init__(self, *, key, **kwargs):
        super().__init__(**kwargs)
        self.check = rubric.CHECKS[key]

    def runtest(self):
        verdict = self.config.grading.judge(self.parent)[self.check.key]
        self.user_properties.append(("points", self.check.points if verdict.passed else 0))
        if not verdict.passed:
            raise RubricFailure(verdict)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, RubricFailure):
            verdict = excinfo.value.args[0]
            lines = [f"{self.check.requirement}: {verdict.note or 'not met'}.", *verdict.evidence,
                     f"What to do: {self.check.advice}"]
            return "\n".join(lines)
        return f"GRADER ERROR (not the student's): {excinfo.value!r}"

    def reportinfo(self):
        return self.path, None, f"rubric::{self.check.key} ({self.check.points} points)"


def run_in_kernel(kernel, code: str, timeout_s: float = 20.0) -> str:
    """Run code in the submission's kernel; return '' or the error it raised."""
    msg_id = kernel.kc.execute(code, allow_stdin=False, store_history=False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            msg = kernel.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        except Empty:
            break
        if msg["parent_header"].get("msg_id") == msg_id:
            content = msg["content"]
            return "" if content["status"] == "ok" else f"{content.get('ename')}: {content.get('evalue')}"
    return f"the grader's code did not finish within {timeout_s:.0f} s"


def probe_outage(kernel, bootstrap_servers: str) -> dict:
    """Serve a second app of the student's factory with Kafka cut off; probe it, restore Kafka, probe again."""
    port = free_port()
    error = run_in_kernel(kernel, OUTAGE_CODE.format(port=port, bootstrap=bootstrap_servers))
    if error:
        note = f"not checked: building create_app({{'KAFKA_BOOTSTRAP_SERVERS': ...}}) failed with {error[:120]}"
        return {"503": note, "recovery": note}
    url, click = f"http://127.0.0.1:{port}/clicks", json.dumps({"article_title": "Kafka is down"}).encode()
    cut = rubric.send(url, "a click while Kafka is unreachable", body=click, timeout_s=30)
    run_in_kernel(kernel, "_grader_gate.open()")
    deadline, back = time.monotonic() + RECOVERY_S, None
    while time.monotonic() < deadline:
        back = rubric.send(url, "a click once Kafka is back", body=click, timeout_s=15)
        if back.status != 503:  # only a 503 is worth a retry
            break
    return {"503": cut, "recovery": back}
