"""Each lab's notebook is found by its cells' ids wherever the student put it; links and junk are never read."""

import json
import shutil

import pytest
from student_repos import commit, new_repo

from clickkit.config import REPO_ROOT
from clickkit.errors import SubmissionRefused
from clickkit.grading import deadline, labs
from clickkit.grading.history import read_blob

ON_TIME = "2027-01-15T22:00+01:00"
LAB_01 = (REPO_ROOT / "notebooks" / "01-ingest-api.ipynb").read_bytes()
LAB_04 = (REPO_ROOT / "notebooks" / "04-stream.ipynb").read_bytes()
MISSING_01 = (
    "missing: no notebook of lab 01 in this repository (looked for notebooks/01-ingest-api.ipynb "
    "and for any .ipynb with its cells)"
)


def test_the_labs_are_the_courses_five_notebooks():
    found = labs.course_labs()
    assert sorted(found) == ["00", "01", "02", "03", "04"]
    assert found["01"].canonical == "notebooks/01-ingest-api.ipynb"
    assert found["01"].check_ids <= found["01"].code_ids and len(found["01"].check_ids) == 10


def test_a_notebook_at_its_canonical_path_is_found_without_a_note(tmp_path):
    repo = new_repo(tmp_path / "lab-alice")
    sha = commit(repo, ON_TIME, {"notebooks/01-ingest-api.ipynb": LAB_01})
    found = labs.find_labs(repo, sha)
    assert found["01"].path == "notebooks/01-ingest-api.ipynb" and found["01"].note == ""
    assert found["00"].path is None and found["00"].note.startswith("missing: no notebook of lab 00")


def test_a_renamed_and_moved_notebook_is_found_with_where_it_was(tmp_path):
    repo = new_repo(tmp_path / "lab-bob")
    sha = commit(repo, ON_TIME, {"lab1/ingest-api-final.ipynb": LAB_01, "README.md": "# my lab"})
    found = labs.find_labs(repo, sha)["01"]
    assert found.path == "lab1/ingest-api-final.ipynb"
    assert found.note == "found at lab1/ingest-api-final.ipynb instead of notebooks/01-ingest-api.ipynb"


def test_a_repository_without_the_notebook_says_where_it_looked(tmp_path):
    repo = new_repo(tmp_path / "lab-carol")
    sha = commit(
        repo, ON_TIME, {"README.md": "# nothing here", "notes.ipynb": b"{not json", "deep.ipynb": "[" * 100_000}
    )
    found = labs.find_labs(repo, sha)["01"]
    assert found.path is None and found.note == MISSING_01


def test_a_link_in_place_of_the_notebook_is_refused_and_never_read(tmp_path):
    secret = tmp_path / "instructor-solution.ipynb"
    shutil.copy(REPO_ROOT / "solutions" / "01-ingest-api.ipynb", secret)
    repo = new_repo(tmp_path / "lab-dan")
    sha = commit(repo, ON_TIME, links={"notebooks/01-ingest-api.ipynb": str(secret)})
    found = labs.find_labs(repo, sha)["01"]
    assert found.path is None
    assert found.note == (
        f"{MISSING_01}; not read: notebooks/01-ingest-api.ipynb is a symbolic link: the grader reads only "
        "regular files committed in the repository"
    )
    with pytest.raises(SubmissionRefused, match="is a symbolic link"):
        read_blob(repo, sha, "notebooks/01-ingest-api.ipynb")
    assert labs.find_labs_in_folder(repo)["01"].path is None  # the checked-out link is refused too


def test_two_notebooks_are_told_apart_by_their_cells(tmp_path):
    repo = new_repo(tmp_path / "lab-erin")
    sha = commit(repo, ON_TIME, {"work/mine.ipynb": LAB_01, "work/stream-done.ipynb": LAB_04})
    found = labs.find_labs(repo, sha)
    assert found["01"].path == "work/mine.ipynb" and found["04"].path == "work/stream-done.ipynb"
    assert [found[n].path for n in ("00", "02", "03")] == [None, None, None]


def test_a_notebook_with_under_half_of_the_checks_is_not_the_lab(tmp_path):
    notebook = json.loads(LAB_01)
    checks = labs.course_labs()["01"].check_ids
    kept, dropped = [], 0
    for cell in notebook["cells"]:
        if cell["id"] in checks and dropped < 6:  # 4 of 10 checks left
            dropped += 1
            continue
        kept.append(cell)
    notebook["cells"] = kept
    repo = new_repo(tmp_path / "lab-fay")
    sha = commit(repo, ON_TIME, {"notebooks/01-ingest-api.ipynb": json.dumps(notebook)})
    assert labs.find_labs(repo, sha)["01"].path is None


def test_on_a_tie_the_canonical_path_wins_and_the_copy_is_named(tmp_path):
    repo = new_repo(tmp_path / "lab-gus")
    sha = commit(repo, ON_TIME, {"a/copy.ipynb": LAB_01, "notebooks/01-ingest-api.ipynb": LAB_01})
    found = labs.find_labs(repo, sha)["01"]
    assert found.path == "notebooks/01-ingest-api.ipynb"
    assert found.note == "a/copy.ipynb has its cells too (not graded)"


def test_a_blob_over_the_cap_is_refused_and_a_file_under_it_is_read(tmp_path):
    repo = new_repo(tmp_path / "lab-hal")
    sha = commit(repo, ON_TIME, {"notebooks/01-ingest-api.ipynb": LAB_01})
    assert read_blob(repo, sha, "notebooks/01-ingest-api.ipynb") == LAB_01
    with pytest.raises(SubmissionRefused, match="larger than the grader's limit"):
        read_blob(repo, sha, "notebooks/01-ingest-api.ipynb", cap=1024)
    with pytest.raises(SubmissionRefused, match="No file"):
        read_blob(repo, sha, "notebooks")
    with pytest.raises(SubmissionRefused, match="not a commit hash"):
        read_blob(repo, "--output=/tmp/x", "notebooks/01-ingest-api.ipynb")


def test_the_notebook_is_read_at_the_commit_the_deadline_chose(tmp_path):
    repo = new_repo(tmp_path / "lab-ida")
    on_time = commit(repo, ON_TIME, {"lab1/ingest-api-final.ipynb": LAB_01})
    commit(repo, "2027-01-16T10:00+01:00", {"notebooks/01-ingest-api.ipynb": LAB_01})  # moved back, too late
    choice = deadline.Rules(deadline.parse_time("2027-01-15T23:59+01:00")).choose(repo)
    assert choice.commit.sha == on_time
    assert labs.find_labs(repo, choice.commit.sha)["01"].path == "lab1/ingest-api-final.ipynb"


def test_a_working_folder_is_searched_the_same_way(tmp_path):
    folder = tmp_path / "alice"
    (folder / "lab1").mkdir(parents=True)
    (folder / "lab1" / "ingest-api-final.ipynb").write_bytes(LAB_01)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "04-stream-checkpoint.ipynb").write_bytes(LAB_04)  # hidden: not a submission
    found = labs.find_labs_in_folder(folder)
    assert found["01"].note == "found at lab1/ingest-api-final.ipynb instead of notebooks/01-ingest-api.ipynb"
    assert found["04"].path is None
