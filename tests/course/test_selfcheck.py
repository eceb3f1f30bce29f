"""make check: a notebook runs from the top with the course's own checks, whatever the student did to them."""

import shutil

import nbformat

from clickkit.config import REPO_ROOT
from clickkit.course import selfcheck


def test_an_untouched_00_runs_the_checks_of_00(tmp_path, capsys, bootstrap_servers):
    notebook = tmp_path / "00-intro.ipynb"
    shutil.copy(REPO_ROOT / "notebooks" / "00-intro.ipynb", notebook)
    assert selfcheck.main([str(notebook)]) == 1
    printed = capsys.readouterr().out
    assert "✗ POST /ratings answers 201 with the rating for a valid one" in printed
    assert "rate() is not written yet" in printed and "0 of 5 checks passed in 00-intro.ipynb." in printed
    assert "read_click" not in printed and "name 'demo'" not in printed  # not the checks of 01


def test_a_solved_notebook_passes_even_with_a_check_deleted_and_one_forged(tmp_path, capsys, bootstrap_servers):
    solution = nbformat.read(REPO_ROOT / "solutions" / "00-intro.ipynb", as_version=4)
    checks = [cell for cell in solution.cells if "check" in cell.metadata.get("tags", [])]
    solution.cells.remove(checks[0])
    checks[1].source = 'print("✓ all good")'
    notebook = tmp_path / "00-intro-mine.ipynb"
    nbformat.write(solution, notebook)
    assert selfcheck.main([str(notebook)]) == 0
    printed = capsys.readouterr().out
    assert "(make check put back the deleted check" in printed and "5 of 5 checks passed" in printed
    assert "✓ send_clicks() stores each click as JSON" in printed and "✓ all good" not in printed


def test_a_notebook_that_is_not_of_the_course_is_named(tmp_path, capsys):
    notebook = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    assert selfcheck.main([str(notebook)]) == 2
    assert (
        "notes.ipynb is not one of the course's notebooks (00-intro.ipynb, 01-ingest-api.ipynb"
        in capsys.readouterr().err
    )


def executed(source, tags=(), count=None, error=None, printed=""):
    """Return a code cell as a kernel leaves it: its prompt number, what it printed and the error it raised."""
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    cell.execution_count = count
    if printed:
        cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed))
    if error:
        cell.outputs.append(nbformat.v4.new_output("error", ename=error[0], evalue=error[1], traceback=[]))
    return cell


def test_the_count_is_of_checks_and_a_failing_cell_is_named_as_jupyterlab_shows_it():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A lab"),
        executed("import json", count=1),
        executed("records = read()\nprint(records)", count=2, error=("NameError", "name 'read' is not defined")),
        executed(
            'with check("one works"):\n    pass\nwith check("two works"):\n    pass',
            tags=["check"],
            count=3,
            printed="✓ one works\n✓ two works\n",
        ),
        executed(
            'with check("three works"):\n    pass\nwith check("four works"):\n    pass',
            tags=["check"],
            count=4,
            printed="✓ three works\n",
            error=("AssertionError", "✗ four works\nexpected 4, got 5"),
        ),
        executed('assert ready\nwith check("five works"):\n    pass', tags=["check"], count=5, error=("KeyError", "5")),
        executed('with check("six works"):\n    pass', tags=["check"]),
    ]
    lines, passed, total = selfcheck.report(notebook)
    assert (passed, total) == (
        3,
        6,
    )  # one per `with check(...)`: the ✓ lines, and the requirements that failed or never ran
    assert lines == [
        "! [2], which starts with 'records = read()' (not a check) raised NameError: name 'read' is not defined",
        "✓ one works",
        "✓ two works",
        "✓ three works",
        "✗ four works",
        "    expected 4, got 5",
        '✗ the check "five works": KeyError: 5',
        '✗ the check "six works" did not run (a cell above it did not finish).',
    ]
