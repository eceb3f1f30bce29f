"""The suite's own rules: nothing skipped or xfailed, notebook cells run, each exercise's check fails as it must."""

import pytest

_bad_outcomes = []
_notebook_cells_run = 0
_check_messages = {}  # exercise notebook -> {AssertionError message: the check cell that raised it}


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
    """Fail a run that skipped, xfailed, or ran the whole suite without executing a notebook cell."""
    if session.config.option.collectonly or exitstatus != 0:
        return
    if _bad_outcomes:
        print(f"\nFAILED: {len(_bad_outcomes)} tests were skipped, xfailed or xpassed, e.g. {_bad_outcomes[:3]}")
        session.exitstatus = 1
    whole_suite = session.config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if whole_suite and _notebook_cells_run == 0:
        print("\nFAILED: the whole suite ran, but no notebook cell was executed.")
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    """Say how many notebook cells really ran, so a log shows the notebooks were tested."""
    terminalreporter.write_line(f"notebook cells executed: {_notebook_cells_run}")
