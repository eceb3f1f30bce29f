"""The student's make test: the broker answers, and each notebook runs its given cells, whatever the progress.

A task's own cell and its check are the student's work in progress: `make check` reports on them. Here a
task cell runs as the course gave it (its stub), the checks do not run, and a cell the course expects to
raise until the tasks are done may raise, so the verdict is the same untouched and finished.
"""

import os
from collections import defaultdict

import pytest
from kit_pytest.broker import needs_kafka

from clickkit.broker.topics import registered_brokers
from clickkit.course.check_cells import is_check
from clickkit.course.checks import CODE_STUB
from clickkit.course.selfcheck import reference_for
from clickkit.errors import KitError

EXPECTED_ERROR_TAG = "raises-exception"
BROKER_TIMEOUT_S = 10  # a broker that answers at all answers in well under a second
_skipped = []
_cells_run = 0


def course_cells(path) -> dict:
    """Return {cell id: cell} of the course's notebook for a student's notebook; {} for a notebook of their own."""
    try:
        return {cell.get("id"): cell for cell in reference_for(path).cells}
    except KitError:
        return {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep a notebook's given cells, each with the course's source for a task cell; leave out the rest."""
    kept, left_out, originals = [], [], {}
    for item in items:
        if type(item).__name__ != "IPyNbCell":
            kept.append(item)
            continue
        if item.path not in originals:
            originals[item.path] = course_cells(item.path)
        original = originals[item.path].get(item.cell.get("id"))
        if original is None or original.cell_type != "code" or is_check(original):  # a check, or the student's own
            left_out.append(item)
            continue
        if CODE_STUB[0] in original.source:
            item.cell.source = original.source  # the stub, not the student's answer: the task is make check's
        # The course's tags, not the student's: no output compared (the outputs are the student's own runs).
        item.options = defaultdict(bool, check_exception=EXPECTED_ERROR_TAG in original.metadata.get("tags", []))
        kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session):
    """Stop at once, saying what to do, when no broker can start or the configured one does not answer."""
    try:
        result = yield
    except KitError as error:
        pytest.exit(f"The test broker could not start: {error} (make doctor says what is missing)", returncode=1)
    if session.config.option.collectonly or not any(needs_kafka(item) for item in session.items):
        return result
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    try:
        registered_brokers(servers, timeout_s=BROKER_TIMEOUT_S)
    except Exception as error:  # whatever the client raises, the answer is the same: no broker
        # No test ran, so the run made no topic: the topics plugin need not try (for long) to delete any there.
        os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        pytest.exit(
            f"No Kafka broker answers at {servers} ({type(error).__name__}). Start one with make kafka-up, "
            "or unset KAFKA_BOOTSTRAP_SERVERS to let make test start its own; make doctor says what is wrong.",
            returncode=1,
        )
    return result


def pytest_runtest_logreport(report):
    """Count the notebook cells run, and remember every skip: a skipped check proves nothing."""
    global _cells_run
    if report.skipped or hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)
    elif report.when == "call" and ".ipynb::" in report.nodeid:
        _cells_run += 1


def pytest_sessionfinish(session, exitstatus):
    """Fail a run that skipped a test, or that ran no notebook cell at all."""
    if session.config.option.collectonly or exitstatus != 0:
        return
    if _skipped:
        print(f"\nFAILED: {len(_skipped)} tests were skipped or xfailed, e.g. {_skipped[:3]}")
        session.exitstatus = 1
    elif _cells_run == 0 and session.config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        print("\nFAILED: make test ran, but no notebook cell was executed.")
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    """Say how many notebook cells really ran, so a log shows the notebooks were tested."""
    terminalreporter.write_line(f"notebook cells executed: {_cells_run}")
