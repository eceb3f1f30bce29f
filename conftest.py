"""Give every test and notebook a real Kafka broker: the configured one, or a local one started for the session."""

import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from clickkit.broker.local import start_on_free_ports
from clickkit.ports import free_port_pair
from clickkit.broker.topics import create_topic, delete_topics_with_prefix
from clickkit.config import load_settings

# Helpers shared by tests in several folders (compose_*.py) live in tests/.
sys.path.insert(0, str(Path(__file__).parent / "tests"))
# Sample submissions for the grader are notebooks, but not tests of their own.
collect_ignore_glob = ["tests/files/*", "tests/browser/*"]

_session_broker = None
_bad_outcomes = []
_notebook_cells_run = 0
_check_messages = {}  # exercise notebook -> {AssertionError message: the check cell that raised it}
# Every topic the suite makes starts with this, so that on a student's broker it can delete them all afterwards.
TEST_TOPIC_PREFIX = f"clickkit-test-{uuid.uuid4().hex[:8]}-"


def pytest_sessionstart(session):
    """Give notebooks a free port and a topic of the suite's own: never a student's port 5000 or clicks."""
    if not session.config.option.collectonly:
        os.environ.setdefault("INGEST_PORT", str(free_port_pair()))
        # Notebooks and the grader write to CLICKS_TOPIC: under test a topic of the suite's, never the student's clicks.
        os.environ["CLICKS_TOPIC"] = TEST_TOPIC_PREFIX + "clicks"


def needs_kafka(item) -> bool:
    """Tell whether a test needs the session broker: it asks for it, or it is a notebook cell."""
    return bool({"bootstrap_servers", "topic"} & set(getattr(item, "fixturenames", ()))) or \
        type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests that need the session broker `kafka`, so that `-m "not kafka"` runs without Java."""
    for item in items:
        if needs_kafka(item):
            item.add_marker(pytest.mark.kafka)


def pytest_collection_finish(session):
    """Start a local broker only when a selected test needs it, and before any notebook kernel starts."""
    global _session_broker
    if session.config.option.collectonly or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return
    if not any(needs_kafka(item) for item in session.items):
        return
    # A broker that cannot start fails the run: KitError propagates and pytest exits non-zero.
    home = Path(tempfile.mkdtemp(prefix="clickkit-test-kafka-"))
    _session_broker = start_on_free_ports(home, 1, load_settings().kafka_cache, timeout_s=180, attempts=3)
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = _session_broker.bootstrap_servers


def pytest_runtest_setup(item):
    """Fail at once, with the broker's log, when the session broker has died."""
    if _session_broker is not None and not _session_broker.running():
        log = _session_broker.nodes[0].log_file
        pytest.fail(f"The test broker is no longer running; its log is {log}.", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail an exercise's check cell unless it failed, with an AssertionError of its own, as it must."""
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and report.passed:
        problem = untouched_check_problem(item)
        if problem:
            report.outcome, report.longrepr = "failed", problem


def untouched_check_problem(item) -> str:
    """Say what is wrong with a check cell of an untouched exercise, or return ''."""
    cell = getattr(item, "cell", None)
    if cell is None or item.path.parent.name != "notebooks" or "check" not in cell.metadata.get("tags", []):
        return ""
    errors = [out for out in item.test_outputs or [] if out.get("output_type") == "error"]
    if not errors:
        return "This check passed in the untouched exercise: the answer is on the page, or it checks nothing."
    if errors[0]["ename"] != "AssertionError":
        return f"This check raised {errors[0]['ename']} in the untouched exercise, not an AssertionError."
    seen = _check_messages.setdefault(str(item.path), {})
    first = seen.setdefault(errors[0]["evalue"], item.name)
    if first != item.name:
        return f"This check fails with the same message as {first}: each check must name its own requirement."
    return ""


def pytest_runtest_logreport(report):
    """Count executed notebook cells, and remember every skip and xfail (nbval xfails after a timeout)."""
    global _notebook_cells_run
    if report.skipped or hasattr(report, "wasxfail"):  # skipped, xfailed or xpassed
        _bad_outcomes.append(report.nodeid)
    elif report.when == "call" and ".ipynb::" in report.nodeid:
        _notebook_cells_run += 1


def pytest_sessionfinish(session, exitstatus):
    """Delete the suite's topics, stop the session broker, and fail a run that skipped, xfailed or ran no cell."""
    if _session_broker is not None:
        _session_broker.stop()
    elif os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not session.config.option.collectonly \
            and not delete_test_topics():  # no broker at all: nothing can have been made
        session.exitstatus = 1
    if session.config.option.collectonly or exitstatus != 0:
        return
    if _bad_outcomes:
        print(f"\nFAILED: {len(_bad_outcomes)} tests were skipped, xfailed or xpassed, e.g. {_bad_outcomes[:3]}")
        session.exitstatus = 1
    whole_suite = session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if whole_suite and _notebook_cells_run == 0:
        print("\nFAILED: the whole suite ran, but no notebook cell was executed.")
        session.exitstatus = 1


def delete_test_topics() -> bool:
    """Delete every topic the suite made on a broker it did not start; say what to do when that fails."""
    bootstrap_servers = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    try:
        delete_topics_with_prefix(bootstrap_servers, TEST_TOPIC_PREFIX)
        return True
    except Exception as error:  # any failure here must fail the run, never pass unnoticed
        print(f"\nFAILED: the suite could not delete its topics {TEST_TOPIC_PREFIX}* on {bootstrap_servers}: "
              f"{error!r}. Once the broker answers, delete them with: .venv/bin/python -c \"from clickkit.broker.topics import "
              f"delete_topics_with_prefix as d; d('{bootstrap_servers}', '{TEST_TOPIC_PREFIX}')\"")
        return False


def pytest_terminal_summary(terminalreporter):
    """Say how many notebook cells really ran, so a log shows the notebooks were tested."""
    terminalreporter.write_line(f"notebook cells executed: {_notebook_cells_run}")


@pytest.fixture(scope="session")
def bootstrap_servers() -> str:
    """Return the address of the real broker under test."""
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def topic_prefix() -> str:
    """Return the prefix of every topic the suite makes, deleted at the end on a broker it did not start."""
    return TEST_TOPIC_PREFIX


@pytest.fixture
def topic(request, bootstrap_servers, topic_prefix) -> str:
    """Create a fresh topic named after the test, so tests never see each other's data."""
    name = f"{topic_prefix}{request.node.name[:80]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)
    return create_topic(bootstrap_servers, name)
