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


def clone_env(without=(), **extra) -> dict:
    """Return the environment for make in the clone: its own virtual environment, never the kit's.

    The devcontainer names the kit's environment in CLICKKIT_VENV; the clone's `make setup` would install the
    student's kit over the instructor's there.
    """
    left_out = {"CLICKKIT_VENV", *without}
    return {**{k: v for k, v in os.environ.items() if k not in left_out}, **extra}


def run(command, cwd, timeout, without=(), **extra):
    """Run a command; return its completed process, with stdout and stderr as text."""
    env = clone_env(without, **extra)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def make_test(clone, timeout=1200, without=(), **extra) -> tuple:
    """Run make test in the clone; return its exit status, its output, and how many notebook cells it ran."""
    # By its path: a test below runs make with a PATH where nothing, Java included, is found.
    tested = run([shutil.which("make"), "test"], clone, timeout, without, **extra)
    output = tested.stdout + tested.stderr
    cells = re.search(r"notebook cells executed: (\d+)", output)
    return tested.returncode, output, int(cells.group(1)) if cells else 0


def as_saved(notebook):
    """Give the notebook's code cells outputs, as JupyterLab saves them after a run: the student's own."""
    for number, cell in enumerate(cell for cell in notebook.cells if cell.cell_type == "code"):
        cell.execution_count = number + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"what the student saw in run {number}\n")]
    return notebook


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


def test_the_release_runs_none_of_the_instructors_notebook_rules(release):
    dest, files = release
    # That an untouched exercise's checks fail is the instructor's test (tests/kit_pytest/notebook_rules.py).
    assert "tests/kit_pytest/given_cells.py" in files and "tests/kit_pytest/notebook_rules.py" not in files
    assert "notebook_rules" not in (dest / "conftest.py").read_text(encoding="utf-8")
    assert "--nbval-lax" in (dest / "pyproject.toml").read_text(encoding="utf-8")
    for page in ("docs/setup.md", "docs/traffic.md"):
        assert "instructor-only" not in (dest / page).read_text(encoding="utf-8"), page


def test_the_release_commit_carries_the_time_it_was_made(release, tmp_path, monkeypatch):
    committed = int(run(["git", "log", "-1", "--format=%ct"], release[0], 30).stdout)
    assert abs(time.time() - committed) < 3600
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # a reproducible build names its own time
    write_release(tmp_path / "pinned")
    assert run(["git", "log", "-1", "--format=%ct"], tmp_path / "pinned", 30).stdout.strip() == "1767225600"


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
@pytest.mark.timeout(
    3600
)  # set-up, make test twice, five notebooks checked, two gradings: minutes on a busy 2-core machine
def test_the_instructors_round_trip(release, tmp_path, bootstrap_servers, capsys):
    started, times = time.monotonic(), {}
    clone = tmp_path / "student-clone"
    assert run(["git", "clone", "-q", str(release[0]), str(clone)], tmp_path, 60).returncode == 0

    # The student's kit's own CI, in the fresh clone: set-up, the kit, every notebook's given cells.
    status, output, untouched_cells = make_test(clone)
    assert status == 0 and untouched_cells > 0, output[-5000:]
    times["make test, untouched (set-up included)"] = time.monotonic() - started
    doctor = run(["make", "doctor"], clone, 120)
    assert "✓ Python" in doctor.stdout and "Traceback" not in doctor.stdout + doctor.stderr
    assert "00-intro.ipynb" in lab_lists_the_notebooks(clone, tmp_path)
    times["make doctor, make lab"] = time.monotonic() - started - sum(times.values())

    # The student fills in every exercise, runs and saves it; make check passes on each, with no instructor file.
    untouched = tmp_path / "untouched-01.ipynb"
    shutil.copy(clone / "notebooks" / "01-ingest-api.ipynb", untouched)
    for exercise in sorted((clone / "notebooks").glob("*.ipynb")):
        nbformat.write(as_saved(filled(exercise, REPO_ROOT / "solutions" / exercise.name)), exercise)
    for exercise in sorted((clone / "notebooks").glob("*.ipynb")):
        checked = run(["make", "check", f"NOTEBOOK=notebooks/{exercise.name}"], clone, 900)
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-1000:]
        assert re.search(rf"(\d+) of \1 checks passed in {exercise.name}\. Well done\.", checked.stdout)
    times["make check x5"] = time.monotonic() - started - sum(times.values())

    # make test's verdict does not depend on the student's progress: finished, it runs the same given cells.
    status, output, finished_cells = make_test(clone)
    assert status == 0 and finished_cells == untouched_cells, output[-5000:]
    times["make test, finished"] = time.monotonic() - started - sum(times.values())

    # A broker that cannot start fails it at once: a configured one that does not answer, or no Java for its own.
    status, output, _ = make_test(clone, 300, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    assert status != 0 and "No Kafka broker answers at 127.0.0.1:" in output, output[-3000:]
    times["make test, broker closed"] = time.monotonic() - started - sum(times.values())
    nothing = tmp_path / "no-java-bin"
    nothing.mkdir()
    status, output, _ = make_test(clone, 300, without=["KAFKA_BOOTSTRAP_SERVERS"], PATH=str(nothing))
    assert status != 0 and "'java' was not found" in output, output[-3000:]
    times["make test, no Java"] = time.monotonic() - started - sum(times.values())

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
