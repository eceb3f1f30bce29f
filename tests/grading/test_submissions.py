"""The grader's parts that need no broker: the sandbox's view, logins, check cells restored by id, and what it
reads of a submission: the regular file the student committed, never what a link points to."""

import os
import socket
import subprocess
from pathlib import Path

import nbformat
import pytest

from clickkit.config import REPO_ROOT
from clickkit.errors import GraderError, SubmissionRefused
from clickkit.grading import grade as grading
from clickkit.grading import gradebook, sandbox, submissions

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


def test_repositories_are_named_by_their_whole_folder_name_never_a_guessed_login(tmp_path):
    for name in ("ingest-api-jo-smith", "ingest-api-jo-brown", "ingest-api-carol"):
        (tmp_path / name / ".git").mkdir(parents=True)
        (tmp_path / name / "notebooks").mkdir()
        (tmp_path / name / submissions.GRADED_NOTEBOOK).write_text("{}")
    found = submissions.find_submissions(tmp_path)
    assert sorted(found) == ["ingest-api-carol", "ingest-api-jo-brown", "ingest-api-jo-smith"]
    assert found["ingest-api-carol"].root == (tmp_path / "ingest-api-carol").resolve()
    assert found["ingest-api-carol"].relative == submissions.GRADED_NOTEBOOK


def test_the_grader_restores_every_check_cell_whatever_the_student_did(tmp_path):
    notebook = nbformat.read(EXERCISE, as_version=4)
    checks = [cell for cell in notebook.cells if "check" in cell.metadata.get("tags", [])]
    notebook.cells.remove(checks[0])  # a student deleted one check cell...
    checks[1].source = "print('all good')"  # ...and rewrote another
    nbformat.write(notebook, tmp_path / "edited.ipynb")
    solution = [
        cell.source for cell in nbformat.read(SOLUTION, as_version=4).cells if "check" in cell.metadata.get("tags", [])
    ]
    restored = nbformat.read(grading.prepare((tmp_path / "edited.ipynb").read_bytes(), tmp_path), as_version=4)
    assert [cell.source for cell in restored.cells if "check" in cell.metadata.get("tags", [])] == solution


def test_feedback_teaches_without_handing_over_a_line():
    from clickkit.grading import rubric

    code = ("jsonify(", "isinstance(", "json.loads", "MAX_CONTENT_LENGTH", "request.", "parse_constant", ".get(timeout")
    handed = {key: advice for key, advice in rubric.ADVICE.items() if any(piece in advice for piece in code)}
    assert not handed, handed


SECRET = "instructor-secret-7f3a"  # in every file outside the students' folders: it must never be shown
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def refusal(root, relative) -> str:
    """Return why the grader refuses to read the submission; fail the test if it reads it."""
    with pytest.raises(SubmissionRefused) as refused:
        submissions.read_submission(root, relative)
    assert SECRET not in str(refused.value)
    return str(refused.value)


@pytest.fixture
def outside(tmp_path):
    """The instructor's files beside the class: a solution, a notebook folder and a shadow file, each with a secret."""
    folder = tmp_path / "instructor"
    (folder / "notebooks").mkdir(parents=True)
    for path in (folder / "solution.ipynb", folder / submissions.GRADED_NOTEBOOK, folder / "shadow"):
        path.write_text(f'{{"secret": "{SECRET}"}}')
    return folder


@pytest.fixture
def loose(tmp_path, outside, monkeypatch):
    """A folder of loose notebooks: one honest, and one of each thing that is not a regular file inside it."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "bob.ipynb").write_bytes(NOTEBOOK)
    (folder / "copies-bob.ipynb").symlink_to("bob.ipynb")  # a classmate's notebook
    (folder / "absolute.ipynb").symlink_to(outside / "solution.ipynb")
    (folder / "relative.ipynb").symlink_to(Path("..") / "instructor" / "solution.ipynb")
    (folder / "shadow.ipynb").symlink_to(outside / "shadow")
    (folder / "zero.ipynb").symlink_to("/dev/zero")
    (folder / "stdin.ipynb").symlink_to("/dev/stdin")
    (folder / "carol").symlink_to(outside, target_is_directory=True)  # a linked folder of notebooks
    os.mkfifo(folder / "fifo.ipynb")
    monkeypatch.chdir(folder)  # a socket's path must be short: bind it by its name in the folder
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("socket.ipynb")
    with open(folder / "huge.ipynb", "wb") as huge:
        huge.truncate(submissions.MAX_NOTEBOOK_BYTES + 1)  # sparse: no disk space used
    yield folder
    listener.close()


LINKED = ["copies-bob.ipynb", "absolute.ipynb", "relative.ipynb", "shadow.ipynb", "zero.ipynb", "stdin.ipynb", "carol"]


def test_every_notebook_and_every_link_is_listed_and_no_linked_folder_is_walked(loose):
    found = submissions.find_submissions(loose)
    assert sorted(found) == sorted(["bob.ipynb", "fifo.ipynb", "huge.ipynb", "socket.ipynb", *LINKED])
    assert found["carol"].relative == Path("carol")  # listed, to be refused; carol/notebooks/... never seen
    assert submissions.read_submission(found["bob.ipynb"].root, found["bob.ipynb"].relative) == NOTEBOOK


@pytest.mark.parametrize("name", LINKED)
def test_a_link_is_refused_whatever_it_points_to(loose, name):
    reason = refusal(loose, Path(name))
    assert reason == f"{name} is a symbolic link: {submissions.ONLY_REGULAR_FILES}"


def test_a_path_through_a_linked_folder_is_refused_at_the_link(loose):
    assert refusal(loose, Path("carol") / "solution.ipynb").startswith("carol is a symbolic link: ")


@pytest.mark.timeout(20)
def test_a_fifo_is_refused_without_blocking(loose):
    assert refusal(loose, Path("fifo.ipynb")) == f"fifo.ipynb is a named pipe (FIFO): {submissions.ONLY_REGULAR_FILES}"


def test_a_socket_and_a_device_are_refused_unopened(loose):
    assert refusal(loose, Path("socket.ipynb")) == f"socket.ipynb is a socket: {submissions.ONLY_REGULAR_FILES}"
    assert refusal(Path("/dev"), Path("zero")).startswith("zero is a character device: ")


def test_a_notebook_over_the_cap_is_refused_unread(loose):
    assert "larger than the grader's limit of 20 MiB" in refusal(loose, Path("huge.ipynb"))
    (loose / "huge.ipynb").unlink()
    (loose / "huge.ipynb").write_bytes(b" " * submissions.MAX_NOTEBOOK_BYTES)  # at the cap: read whole
    assert len(submissions.read_submission(loose, Path("huge.ipynb"))) == submissions.MAX_NOTEBOOK_BYTES


def test_a_path_that_leaves_the_folder_is_refused(loose):
    assert "not a path inside" in refusal(loose, Path("..") / "instructor" / "solution.ipynb")
    assert "not a path inside" in refusal(loose, Path("/etc/passwd"))
    assert refusal(loose, Path("gone.ipynb")) == "No notebook at gone.ipynb in the student's folder."
    assert refusal(loose / "gone", Path("lab.ipynb")) == "No notebook at lab.ipynb in the student's folder."


def repository(folder: Path, login: str) -> Path:
    """Create a student's clone, named `<assignment>-<login>`, with a .git folder and an empty notebooks folder."""
    repo = folder / f"ingest-api-{login}"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    return repo


def test_in_a_repository_only_the_committed_notebook_is_read(tmp_path, outside):
    folder = tmp_path / "class"
    (repository(folder, "alice") / submissions.GRADED_NOTEBOOK).write_bytes(NOTEBOOK)
    (repository(folder, "bob") / submissions.GRADED_NOTEBOOK).symlink_to(
        Path("..") / ".." / "ingest-api-alice" / submissions.GRADED_NOTEBOOK
    )
    (repository(folder, "carol") / submissions.GRADED_NOTEBOOK).symlink_to(outside / submissions.GRADED_NOTEBOOK)
    dave = repository(folder, "dave")
    (dave / "notebooks").rmdir()
    (dave / "notebooks").symlink_to(outside / "notebooks", target_is_directory=True)
    repository(folder, "erin")  # committed nothing
    found = submissions.find_submissions(folder)
    found = {name.removeprefix("ingest-api-"): submission for name, submission in found.items()}
    assert sorted(found) == ["alice", "bob", "carol", "dave", "erin"]
    read = {login: submissions.read_submission(found[login].root, found[login].relative) for login in ["alice"]}
    assert read == {"alice": NOTEBOOK}
    link = f"notebooks/01-ingest-api.ipynb is a symbolic link: {submissions.ONLY_REGULAR_FILES}"
    assert refusal(found["bob"].root, found["bob"].relative) == link
    assert refusal(found["carol"].root, found["carol"].relative) == link
    assert refusal(found["dave"].root, found["dave"].relative).startswith("notebooks is a symbolic link: ")
    assert "No notebook at notebooks/01-ingest-api.ipynb" in refusal(found["erin"].root, found["erin"].relative)


def test_a_refusal_reaches_the_gradebook_and_nothing_of_the_file_outside(loose, tmp_path):
    found = submissions.find_submissions(loose)
    results = []
    for name, submission in found.items():
        try:
            submissions.read_submission(submission.root, submission.relative)
            results.append(gradebook.Result(name, stem=submission.stem))
        except SubmissionRefused as refused:
            results.append(gradebook.Result(name, remark=str(refused), stem=submission.stem))
    gradebook.write_all(results, tmp_path / "out")
    written = [path for path in (tmp_path / "out").rglob("*") if path.suffix in (".md", ".html", ".csv")]
    assert len(written) == 3 + 2 * len(found)
    assert not [path.name for path in written if SECRET in path.read_text(encoding="utf-8")]
    feedback = (tmp_path / "out" / "feedback" / "shadow.md").read_text(encoding="utf-8")
    assert "shadow.ipynb is a symbolic link: the grader reads only regular files" in feedback


def test_a_file_that_is_not_a_notebook_is_named_without_being_quoted(tmp_path):
    for data in (f"{{ {SECRET}".encode(), f'{{"cells": "{SECRET}"}}'.encode(), b"\xff" + SECRET.encode()):
        with pytest.raises(ValueError) as error:
            grading.prepare(data, tmp_path)
        assert str(error.value).startswith("not a Jupyter notebook in JSON (") and SECRET not in str(error.value)


def test_each_submission_gets_a_file_stem_of_its_own_safe_for_any_disk(tmp_path):
    names = ["solution.ipynb", "alice/lab.ipynb", "alice__lab.ipynb", "Bob.ipynb", "bob.ipynb", "../../x.ipynb"]
    names += [".hidden.ipynb", "-rf.ipynb", "a<b>.ipynb", "a_b_.ipynb", "x.ipynb.ipynb", "é" * 300 + ".ipynb"]
    stems = submissions.unique_stems(names)
    assert stems["solution.ipynb"] == "solution" and stems["alice__lab.ipynb"] == "alice__lab"
    assert stems["Bob.ipynb"] == "Bob" and stems["a_b_.ipynb"] == "a_b_"  # a plain name keeps its own stem
    assert len({stem.lower() for stem in stems.values()}) == len(names)
    for stem in stems.values():
        assert stem[0] not in ".-" and ".." not in stem and len(stem) <= submissions.MAX_STEM_CHARS
        assert not set(stem) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        assert submissions.file_stem(stem) == stem  # the grader's files are named by file_stem(stem)
    for name in names:  # each can be written beside the others
        (tmp_path / f"{stems[name]}.md").write_text(name, encoding="utf-8", errors="surrogateescape")
    assert len(list(tmp_path.iterdir())) == len(names)
