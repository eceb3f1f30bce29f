"""The grader against the real broker: a generated class, sandboxed, scored check by check, with a class view."""

import csv
import io
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from clickkit.grading import grade as grading
from clickkit.grading import rubric
from clickkit.grading import sandbox
from clickkit.config import REPO_ROOT
from grading_samples import EVERYTHING, SAMPLES, write_sample

pytestmark = pytest.mark.timeout(600)  # one grading run of a class of 16, shared by the tests below

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"
EXPECTED_LOST = {"solution": set(), "exercise-untouched": EVERYTHING, "not-a-notebook": EVERYTHING,
                 **{name: lost for name, (_, lost) in SAMPLES.items()}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, bootstrap_servers):
    """Grade the solution, the untouched exercise and every generated sample in one run, two at a time."""
    folder, outside = tmp_path_factory.mktemp("class"), tmp_path_factory.mktemp("instructor")
    (folder / "solution.ipynb").write_bytes(SOLUTION.read_bytes())
    (folder / "exercise-untouched.ipynb").write_bytes(EXERCISE.read_bytes())
    (folder / "not-a-notebook.ipynb").write_text("{ this is not JSON")
    for name in SAMPLES:
        write_sample(name, folder, class_folder=folder, outside=outside, solutions=SOLUTION)
    out = tmp_path_factory.mktemp("gradebook")
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = grading.main([str(folder), "--out", str(out), "--jobs", "2", "--cell-timeout", "10",
                               "--notebook-timeout", "90"])
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as csv_file:
        rows = {Path(row["submission"]).stem: row for row in csv.DictReader(csv_file)}
    return {"status": status, "printed": printed.getvalue(), "rows": rows, "out": out, "folder": folder,
            "outside": outside}


def test_every_notebook_is_graded_and_the_gradebook_is_written(graded):
    assert graded["status"] == 0, graded["printed"]
    assert set(graded["rows"]) == set(EXPECTED_LOST)
    assert graded["printed"].strip().splitlines()[-1] == f"Gradebook written to {graded['out']}"
    for row in graded["rows"].values():
        assert int(row["max_points"]) == rubric.MAX_POINTS
        assert int(row["points"]) == sum(int(row[check.key]) for check in rubric.RUBRIC)


@pytest.mark.parametrize("name", sorted(name for name, lost in EXPECTED_LOST.items() if lost is not None))
def test_each_fault_costs_only_its_own_points(graded, name):
    row = graded["rows"][name]
    lost = {check.key for check in rubric.RUBRIC if row[check.key] == "0"}
    assert lost == EXPECTED_LOST[name], (graded["out"] / "feedback" / f"{name}.md").read_text()


def test_the_gradebook_opens_with_each_checks_pass_rate_and_a_plot(graded):
    text = (graded["out"] / "gradebook.md").read_text(encoding="utf-8")
    assert text.split("\n\n")[1] == "## Pass rate per check"
    passed = sum(not EXPECTED_LOST[name] or "recovers" not in EXPECTED_LOST[name] for name in EXPECTED_LOST
                 if EXPECTED_LOST[name] is not None)
    assert f"| {rubric.CHECKS['recovers'].requirement} (`recovers`) | 1 |" in text
    assert (graded["out"] / "pass-rates.png").read_bytes().startswith(b"\x89PNG")
    assert passed > 0


def test_feedback_quotes_the_contract_shows_the_exchange_and_says_what_to_do(graded):
    feedback = (graded["out"] / "feedback" / "no-retry-after.md").read_text(encoding="utf-8")
    check = rubric.CHECKS["unavailable_503"]
    assert f"## ✗ {check.requirement} (0/2)" in feedback
    assert "POST /clicks: a click while Kafka is unreachable → 503" in feedback and "no Retry-After header" in feedback
    assert f"**What to do:** {check.advice}" in feedback
    assert (graded["out"] / "feedback" / "no-retry-after.html").read_text().startswith("<!doctype html>")
    wrong_topic = (graded["out"] / "feedback" / "wrong-topic.md").read_text(encoding="utf-8")
    assert '"topic": "click"' in wrong_topic  # the answer the student's endpoint gave


def test_junit_and_lms_exports_sit_beside_the_gradebook(graded):
    junit = (graded["out"] / "junit" / "solution.xml").read_text(encoding="utf-8")
    assert junit.count('.rubric" name=') == len(rubric.RUBRIC) and 'failures="0"' in junit
    with open(graded["out"] / "lms.csv", newline="", encoding="utf-8") as lms:
        rows = {row["login"]: row for row in csv.DictReader(lms)}
    assert rows["solution"]["points"] == str(rubric.MAX_POINTS) and rows["solution"]["feedback"] == "all passed"


def test_hard_coding_the_visible_checks_gains_nothing_on_the_hidden_variants(graded):
    row = graded["rows"]["hard-codes-visible-checks"]
    assert row["strict_json"] == row["not_an_object"] == "0"


def test_the_sandbox_contained_the_escape_the_fork_bomb_and_the_10_gib(graded):
    assert graded["rows"]["tries-to-escape"]["runs_cleanly"] == "1"  # its cell asserts every attempt failed
    assert not (graded["folder"] / "planted.txt").exists() and not (graded["outside"] / "planted.txt").exists()
    assert graded["rows"]["allocates-10-gib"]["runs_cleanly"] == "0"
    assert "MemoryError" in (graded["out"] / "feedback" / "allocates-10-gib.md").read_text()
    assert int(graded["rows"]["fork-bomb"]["points"]) < rubric.MAX_POINTS
    # Only this class's users: another grading run on the same machine has sandboxes of its own.
    ours = {line.removeprefix(grading.SANDBOX_LINE).split()[0] for log in (graded["out"] / "logs").glob("*.log")
            for line in log.read_text().splitlines()[:1] if line.startswith(grading.SANDBOX_LINE)}
    assert len(ours) >= len(graded["rows"]) - 1, ours  # every submission but the one that is not a notebook
    left = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout.split()
    assert not set(left) & ours, "a sandboxed process outlived its grading"


@pytest.mark.slow  # waits for kafka-python to give up on a dead address
def test_a_grader_failure_is_a_named_error_and_no_gradebook(tmp_path, monkeypatch, capsys):
    (tmp_path / "solution.ipynb").write_bytes(SOLUTION.read_bytes())
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:1")  # not local to the kit's port: no broker starts
    monkeypatch.setattr(grading, "ensure_kafka", lambda settings: None)
    status = grading.main([str(tmp_path), "--out", str(tmp_path / "out")])
    assert status == 1
    assert "GRADER ERROR, no grades written" in capsys.readouterr().err
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_without_bubblewrap_the_run_says_loudly_it_is_not_isolated(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    assert grading.kernel_spec_root(tmp_path) is None
    assert "NOT isolated" in capsys.readouterr().err


def test_the_sandbox_hides_the_instructors_files(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    sandbox.prepare_folder(folder, 123_457)
    script = "import os; print(sorted(os.listdir('/work/main')) if os.path.exists('/work/main') else 'none', os.getuid())"
    command = sandbox.command(["python3", "-c", script], folder, 123_457)
    seen = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert seen.returncode == 0, seen.stderr
    assert "solutions" not in seen.stdout and "123457" in seen.stdout


def test_the_docs_rubric_table_is_the_rubric():
    docs = (REPO_ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    section = docs.split("## The rubric", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{c.key}` | {c.points} | {c.requirement} |" for c in rubric.RUBRIC]
    assert f"## The rubric ({rubric.MAX_POINTS} points)" in docs
