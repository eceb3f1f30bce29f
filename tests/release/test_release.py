"""The student's kit: no answer in it, and the instructor's round trip through a fresh clone of it."""

import csv
import os
import re
import shutil
import signal
import subprocess
import time

import nbformat
import pytest
import requests

from clickkit.config import REPO_ROOT
from clickkit.course.exercises import BEGIN, END
from clickkit.grading import grade
from clickkit.ports import free_port
from clickkit.release.build import answers_in, solution_lines, write_release

LEFT_OUT = (
    "solutions/",
    "src/clickkit/ingest/",
    "src/clickkit/grading/",
    "src/clickkit/bench/",
    "src/clickkit/reliability/",
    "src/clickkit/demo/",
    "src/clickkit/course/exercises.py",
)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Build the student's kit once; return its folder and its files."""
    dest = tmp_path_factory.mktemp("release") / "clickkit-student"
    started = time.monotonic()
    files = write_release(dest)
    print(
        f"\nrelease: {len(files)} files, {sum((dest / f).stat().st_size for f in files) / 1024:.0f} KiB, "
        f"built in {time.monotonic() - started:.1f} s"
    )
    return dest, files


def clone_env(**extra) -> dict:
    """Return the environment for make in the clone: its own virtual environment, never the kit's.

    The devcontainer names the kit's environment in CLICKKIT_VENV; the clone's `make setup` would install the
    student's kit over the instructor's there.
    """
    return {**{k: v for k, v in os.environ.items() if k != "CLICKKIT_VENV"}, **extra}


def run(command, cwd, timeout):
    """Run a command; return its completed process, with stdout and stderr as text."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clone_env())


def filled(exercise_path, solution_path):
    """Return the exercise with each stubbed cell replaced by the solution's, its region markers left out."""
    exercise = nbformat.read(exercise_path, as_version=4)
    solutions = {cell.id: cell for cell in nbformat.read(solution_path, as_version=4).cells}
    for cell in exercise.cells:
        answer = solutions[cell.id].source
        if BEGIN in answer:
            cell.source = "\n".join(line for line in answer.splitlines() if line.strip() not in (BEGIN, END))
    return exercise


def lab_lists_the_notebooks(clone, tmp_path) -> set:
    """Start make lab in the clone, wait for its URL, and return the notebooks JupyterLab serves."""
    port, log = free_port(), tmp_path / "lab.log"
    env = clone_env(JUPYTER_PORT=str(port), JUPYTER_RUNTIME_DIR=str(tmp_path))
    with open(log, "w") as out:
        lab = subprocess.Popen(
            ["make", "lab"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline, url = time.monotonic() + 120, None
        while url is None and time.monotonic() < deadline and lab.poll() is None:
            time.sleep(0.5)
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\S*token=\w+", log.read_text())
            url = found.group(0) if found else None
        assert url, f"make lab printed no URL:\n{log.read_text()[-3000:]}"
        listed = requests.get(
            f"http://127.0.0.1:{port}/api/contents/notebooks", params={"token": url.split("token=")[1]}, timeout=10
        )
        return {item["name"] for item in listed.json()["content"]}
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)


def test_the_release_leaves_out_every_answer_and_the_instructors_tools(release):
    dest, files = release
    assert "notebooks/01-ingest-api.ipynb" in files and "src/clickkit/course/selfcheck.py" in files
    assert not [name for name in files if name.startswith(LEFT_OUT) or "rubric" in name]
    assert answers_in(dest) == []


def test_the_scan_for_answers_would_find_one(release, tmp_path):
    answers = solution_lines()
    assert "if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:" in answers
    assert "return not isinstance(event, dict)" in answers
    copy = tmp_path / "kit"
    shutil.copytree(release[0], copy)
    shutil.copy(REPO_ROOT / "src" / "clickkit" / "ingest" / "app.py", copy / "src" / "clickkit" / "app.py")
    assert any(hit.startswith("src/clickkit/app.py:") for hit in answers_in(copy))


def test_the_release_is_a_git_repository_of_one_commit_with_nothing_left_out(release):
    dest, files = release
    assert run(["git", "rev-list", "--count", "HEAD"], dest, 30).stdout.strip() == "1"
    assert run(["git", "status", "--porcelain", "--ignored"], dest, 30).stdout == ""


def test_a_release_is_not_written_into_a_folder_that_holds_files(release, capsys):
    from clickkit.release.build import main

    assert main([str(release[0])]) == 2
    assert "is not empty: give a new folder" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(3600)  # set-up, four notebooks twice and two gradings: minutes on a busy 2-core machine
def test_the_instructors_round_trip(release, tmp_path, bootstrap_servers, capsys):
    started, times = time.monotonic(), {}
    clone = tmp_path / "student-clone"
    assert run(["git", "clone", "-q", str(release[0]), str(clone)], tmp_path, 60).returncode == 0

    # The student's kit's own CI, in the fresh clone: set-up, every untouched exercise under nbval, its test.
    tested = run(["make", "test"], clone, 1200)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert re.search(r"notebook cells executed: [1-9]", tested.stdout)
    times["make test (set-up included)"] = time.monotonic() - started
    doctor = run(["make", "doctor"], clone, 120)
    assert "✓ Python" in doctor.stdout and "Traceback" not in doctor.stdout + doctor.stderr
    assert "00-intro.ipynb" in lab_lists_the_notebooks(clone, tmp_path)

    # The student fills in every exercise; make check passes on each, in the clone, with no instructor file.
    untouched = tmp_path / "untouched-01.ipynb"
    shutil.copy(clone / "notebooks" / "01-ingest-api.ipynb", untouched)
    for exercise in sorted((clone / "notebooks").glob("*.ipynb")):
        nbformat.write(filled(exercise, REPO_ROOT / "solutions" / exercise.name), exercise)
    for exercise in sorted((clone / "notebooks").glob("*.ipynb")):
        checked = run(["make", "check", f"NOTEBOOK=notebooks/{exercise.name}"], clone, 900)
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-1000:]
        assert re.search(rf"(\d+) of \1 checks passed in {exercise.name}\. Well done\.", checked.stdout)
    times["make check x4"] = time.monotonic() - started - sum(times.values())

    # The instructor collects the notebooks and grades them with the instructor's kit.
    collected = tmp_path / "collected"
    collected.mkdir()
    shutil.copy(clone / "notebooks" / "01-ingest-api.ipynb", collected / "ada.ipynb")
    shutil.copy(untouched, collected / "linus.ipynb")
    out = tmp_path / "gradebook"
    assert grade.main([str(collected), "--out", str(out)]) == 0
    rows = {row["submission"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert (rows["ada.ipynb"]["points"], rows["ada.ipynb"]["max_points"]) == ("17", "17")
    assert rows["linus.ipynb"]["points"] == "0"
    times["grading 2 notebooks"] = time.monotonic() - started - sum(times.values())
    with capsys.disabled():
        print(
            f"\nround trip: {time.monotonic() - started:.0f} s ("
            + ", ".join(f"{what} {seconds:.0f} s" for what, seconds in times.items())
            + ")"
        )
