"""The grader's parts that need no broker: the sandbox's view, logins, check cells restored by id."""

import subprocess

import nbformat
import pytest

from clickkit.config import REPO_ROOT
from clickkit.errors import GraderError
from clickkit.grading import grade as grading
from clickkit.grading import sandbox, submissions

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"


def test_where_the_sandbox_cannot_run_grading_refuses(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    with pytest.raises(GraderError, match="refuses to run it unsandboxed"):
        grading.kernel_spec_root(tmp_path)


def test_the_sandbox_hides_the_instructors_files(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    sandbox.prepare_folder(folder, 123_457)
    checkout, package = REPO_ROOT, sandbox.package_dir()
    script = (
        f"import os; print(sorted(os.listdir({str(checkout)!r})) if os.path.exists({str(checkout)!r}) else 'none'); "
        f"print(os.path.getsize({str(package / 'grading' / 'rubric.py')!r})); print(os.getuid())"
    )
    command = sandbox.command(["python3", "-c", script], folder, 123_457)
    seen = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert seen.returncode == 0, seen.stderr
    listing, rubric_size, uid = seen.stdout.splitlines()
    assert (checkout / "solutions").exists() and "solutions" not in listing  # it is there, and not shown
    assert rubric_size == "0"
    assert uid == ("123457" if sandbox.os.geteuid() == 0 else str(sandbox.os.getuid()))


def test_logins_come_from_the_repositories_names(tmp_path):
    for name in ("ingest-api-alice", "ingest-api-bob-2", "ingest-api-carol"):
        (tmp_path / name / ".git").mkdir(parents=True)
        (tmp_path / name / "notebooks").mkdir()
        (tmp_path / name / submissions.GRADED_NOTEBOOK).write_text("{}")
    found = submissions.find_submissions(tmp_path)
    assert sorted(found) == ["alice", "bob-2", "carol"]
    assert found["alice"] == tmp_path / "ingest-api-alice" / submissions.GRADED_NOTEBOOK


def test_the_grader_restores_every_check_cell_whatever_the_student_did(tmp_path):
    notebook = nbformat.read(EXERCISE, as_version=4)
    checks = [cell for cell in notebook.cells if "check" in cell.metadata.get("tags", [])]
    notebook.cells.remove(checks[0])  # a student deleted one check cell...
    checks[1].source = "print('all good')"  # ...and rewrote another
    nbformat.write(notebook, tmp_path / "edited.ipynb")
    solution = [
        cell.source for cell in nbformat.read(SOLUTION, as_version=4).cells if "check" in cell.metadata.get("tags", [])
    ]
    restored = nbformat.read(grading.prepare(tmp_path / "edited.ipynb", tmp_path), as_version=4)
    assert [cell.source for cell in restored.cells if "check" in cell.metadata.get("tags", [])] == solution


def test_feedback_teaches_without_handing_over_a_line():
    from clickkit.grading import rubric

    code = ("jsonify(", "isinstance(", "json.loads", "MAX_CONTENT_LENGTH", "request.", "parse_constant", ".get(timeout")
    handed = {key: advice for key, advice in rubric.ADVICE.items() if any(piece in advice for piece in code)}
    assert not handed, handed
