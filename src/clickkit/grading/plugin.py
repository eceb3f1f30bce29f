"""The grader's pytest plugin: after nbval has run a submission's cells, test its live endpoint, one test per check.

grade.py runs it once per submission, inside the sandbox it prepares (the variables of sandbox.py name the
submission's folder, user, broker link and Kafka port); to grade one notebook again, give it to make grade.
"""

import json
import os
import socket
import threading
import time
from pathlib import Path
from queue import Empty

import pytest
from nbval.plugin import IPyNbCell

from clickkit import contract
from clickkit.config import load_settings
from clickkit.grading import rubric, sandbox
from clickkit.grading.bridge import owned_unix_client, serve
from clickkit.grading.broker_link import BrokerLink
from clickkit.grading.turns import TURN_VARIABLE, Turn

pytest_plugins = ("clickkit.grading.cells",)  # the cells' time, output and problems

# Run in the kernel after the last cell; it works on a notebook run without the setup cell too.
SERVE_AGAIN_CODE = "from clickkit.grading.kernel_hooks import serve_again\n\nserve_again({port})"
RECOVERY_S = 30.0


class RubricFailure(AssertionError):
    """A rubric check the submission failed."""


def pytest_addoption(parser):
    group = parser.getgroup("clickkit grading")
    group.addoption("--grade-results", help="write every check's verdict to this JSON file")
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """Wait for a turn to run the cells, once the first cell's setup has started the kernel."""
    result = yield
    grading = item.config.grading
    if isinstance(item, IPyNbCell) and grading.turn is not None and not grading.turn.asked:
        grading.turn.wait()
        item.config.cells.started = time.monotonic()  # the notebook's time starts with its turn
    return result


def pytest_sessionstart(session):
    """Open the sandbox's path to Kafka, and note where the topic ends: the grader reads only what comes after."""
    settings = load_settings()
    grading = session.config.grading
    grading.topic_start = rubric.topic_start(settings.bootstrap_servers, settings.topic)
    link = os.environ.get(sandbox.LINK_VARIABLE)
    if link:
        host, _, port = settings.bootstrap_servers.rpartition(":")
        grading.link = BrokerLink(Path(link) / sandbox.LINK_SOCKET, (host, int(port))).open()
        path = Path(os.environ[sandbox.FOLDER_VARIABLE]) / sandbox.ENDPOINT_SOCKET
        owner = sandbox.socket_owner(int(os.environ[sandbox.UID_VARIABLE]))
        grading.endpoint_url = open_endpoint_path(path, owner, grading.endpoint_refusals)


def open_endpoint_path(path: Path, owner: int, refusals: list) -> str:
    """Forward a loopback port of the grader's to the sandbox's endpoint socket; return the URL of /clicks there.

    Only a socket that `owner` made at path is reached: a request finds the port closed on it otherwise, and the
    reason is appended to `refusals`.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    connect = owned_unix_client(str(path), owner, refusals)
    threading.Thread(target=serve, args=(listener, connect), daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/clicks"


def pytest_sessionfinish(session):
    session.config.grading.write()


def pytest_terminal_summary(terminalreporter, config):
    """Tell the instructor's log the sandbox's control group, and what the broker link and endpoint path refused."""
    note = Path(os.environ.get(sandbox.LINK_VARIABLE, "/nonexistent")) / sandbox.LIMITS_NOTE
    if note.exists():
        terminalreporter.write_line(note.read_text(encoding="utf-8"))
    link = config.grading.link
    if link is not None and link.refused:
        terminalreporter.write_line(
            f"The broker link refused requests that change the broker: {sorted(set(link.refused))}"
        )
    for refusal in config.grading.endpoint_refusals:
        terminalreporter.write_line(f"The grader did not connect to the endpoint: {refusal}")


class Grading:
    """What one submission's run has shown so far, and the verdicts once the endpoint is probed."""

    def __init__(self, config):
        self.config, self.topic_start = config, {}
        self.link, self.endpoint_url, self.endpoint_refusals = None, "", []
        self.verdicts, self.grader_error, self.fault = None, None, None
        control = os.environ.get(TURN_VARIABLE)
        self.turn = Turn(*map(int, control.split(","))) if control else None

    def judge(self, nbfile) -> dict:
        """Probe the endpoint once, with Kafka up, then cut off, then back; return every check's verdict."""
        if self.fault is not None:
            raise self.fault  # once is enough: probing again would only wait as long again for the same fault
        if self.verdicts is None:
            try:
                self.verdicts = self._probe_and_judge(nbfile)
            except Exception as error:  # a grader or Kafka failure is not the student's: it stops the grading
                self.grader_error, self.fault = f"{type(error).__name__}: {error}", error
                raise
        return self.verdicts

    def _probe_and_judge(self, nbfile) -> dict:
        if self.turn is not None:
            self.turn.done()  # the cells have run: the next notebook may run its own while this one is probed
        cells = self.config.cells
        capped = cells.outputs.over  # now: what the app prints while it is probed is not the cells' output
        settings, kernel = load_settings(), nbfile.kernel
        if self.link is None:
            raise RuntimeError("no broker link: the grader runs submissions only in its sandbox")
        alive = kernel is not None and kernel.is_alive()
        if alive:
            run_in_kernel(kernel, SERVE_AGAIN_CODE.format(port=sandbox.ENDPOINT_PORT))
        probes = rubric.probe(self.endpoint_url, rubric.Probes(), self.link)
        probes.outage = (
            probe_outage(self.endpoint_url, self.link) if alive else {"503": "not checked: the kernel had died"}
        )
        values = rubric.marked_records(settings.bootstrap_servers, settings.topic, self.topic_start, probes.marker)
        return rubric.judge(probes, values, cells.problems, capped)

    def write(self) -> None:
        path = self.config.getoption("grade_results")
        if path:
            verdicts = {key: vars(verdict) for key, verdict in (self.verdicts or {}).items()}
            Path(path).write_text(
                json.dumps(
                    {
                        "verdicts": verdicts,
                        "grader_error": self.grader_error,
                        "cell_errors": self.config.cells.problems,
                    },
                    indent=1,
                ),
                encoding="utf-8",
            )


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
            lines = [
                f"{self.check.requirement}: {verdict.note or 'not met'}.",
                *verdict.evidence,
                f"What to do: {self.check.advice}",
            ]
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


def probe_outage(url: str, link: BrokerLink) -> dict:
    """Cut the kernel's one path to Kafka under the running endpoint, probe it, restore the path, probe again."""
    click = json.dumps({"article_title": "Kafka is down"}).encode()
    link.cut()
    try:
        cut = rubric.send(url, "a click while Kafka is unreachable", body=click, timeout_s=30)
    finally:
        link.open()
    deadline, back = time.monotonic() + RECOVERY_S, None
    while time.monotonic() < deadline:
        back = rubric.send(url, "a click once Kafka is back", body=click, timeout_s=15)
        if back.status != contract.UNAVAILABLE:  # only a 503 is worth a retry
            break
    return {"503": cut, "recovery": back}
