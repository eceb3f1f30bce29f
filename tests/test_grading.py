"""The grader against the real broker: full marks for the solution, 0 for the exercise, partial for the bugs."""

import csv
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
from kafka import KafkaProducer

from clickkit import grading, rubric
from clickkit.config import REPO_ROOT

pytestmark = pytest.mark.timeout(300)  # one gradebook run of ten notebooks, shared by the tests below

SAMPLES = Path(__file__).parent / "files" / "submissions"
SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"
EVERYTHING = {check.key for check in rubric.RUBRIC}
EXPECTED_LOST = {
    "solution": set(),
    "exercise-untouched": EVERYTHING,
    # The buggy samples keep the lesson's own check cells, which fail too: runs_cleanly is lost with them.
    "wrong-topic": {"click_on_topic", "clicks_in_order", "runs_cleanly"},
    "no-400-handling": {"invalid_json", "not_an_object", "rejects_write_nothing", "runs_cleanly"},
    "str-dict": {"click_on_topic", "clicks_in_order", "runs_cleanly"},
    "infinite-loop": {"runs_cleanly"},
    "crash-at-import": EVERYTHING,
    "prints-100000-lines": {"tidy_output"},
    "kernel-dies": EVERYTHING,
    "not-a-notebook": EVERYTHING,
}


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory, bootstrap_servers):
    """Grade the solution, the exercise and every sample in one `make grade`-style run."""
    folder = tmp_path_factory.mktemp("class")
    # Symlinks: each notebook still runs in its own folder, as the grader runs a real submission.
    (folder / "solution.ipynb").symlink_to(SOLUTION)
    (folder / "exercise-untouched.ipynb").symlink_to(EXERCISE)
    for sample in SAMPLES.glob("*.ipynb"):
        (folder / sample.name).symlink_to(sample)
    (folder / "not-a-notebook.ipynb").write_text("{ this is not JSON")
    out = tmp_path_factory.mktemp("gradebook")
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = grading.main([str(folder), "--out", str(out), "--cell-timeout", "8", "--notebook-timeout", "60"])
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as csv_file:
        rows = {Path(row["submission"]).stem: row for row in csv.DictReader(csv_file)}
    return {"status": status, "printed": printed.getvalue(), "rows": rows, "out": out,
            "markdown": (out / "gradebook.md").read_text(encoding="utf-8")}


def test_gradebook_is_written_and_printed(gradebook):
    assert gradebook["status"] == 0, gradebook["printed"]
    assert set(gradebook["rows"]) == set(EXPECTED_LOST)
    assert gradebook["printed"].strip().splitlines()[-1] == f"Gradebook written to {gradebook['out'].resolve()}"
    assert "| submission | points | max_points |" in gradebook["printed"]
    assert "| wrong-topic.ipynb | 10 | 15 |" in gradebook["markdown"]
    for row in gradebook["rows"].values():
        assert row["max_points"] == str(rubric.MAX_POINTS)
        assert int(row["points"]) == sum(int(row[check.key]) for check in rubric.RUBRIC)


@pytest.mark.parametrize("name", sorted(EXPECTED_LOST))
def test_each_submission_gets_its_expected_score(gradebook, name):
    row = gradebook["rows"][name]
    lost = {check.key for check in rubric.RUBRIC if row[check.key] == "0"}
    assert lost == EXPECTED_LOST[name], row["feedback"]
    assert int(row["points"]) == rubric.MAX_POINTS - sum(c.points for c in rubric.RUBRIC if c.key in lost)


@pytest.mark.parametrize("name, words", [
    ("solution", ["All checks passed."]),
    ("crash-at-import", ["cell 6: ModuleNotFoundError", "kafka_python"]),
    ("str-dict", ["json.dumps", "{'ts_ingest'"]),
    ("wrong-topic", ["your answer says 'click'"]),
    ("no-400-handling", ["malformed: 500", "array: 200"]),
    ("infinite-loop", ["Timeout: the cell did not finish within its time limit"]),
    ("prints-100000-lines", ["cap"]),
    ("kernel-dies", ["the kernel died"]),
    ("not-a-notebook", ["could not run this notebook"]),
])
def test_feedback_says_what_went_wrong(gradebook, name, words):
    feedback = gradebook["rows"][name]["feedback"]
    for word in words:
        assert word in feedback


def test_flooding_output_is_capped_in_the_executed_copy(gradebook):
    executed = nbformat.read(gradebook["out"] / "executed" / "prints-100000-lines.ipynb", as_version=4)
    text = "".join(out.get("text", "") for cell in executed.cells for out in cell.get("outputs", []))
    assert "[output capped by the grader]" in text
    assert len(text) < 2 * grading.Limits.output_chars


def test_only_this_submissions_marked_records_count(bootstrap_servers, topic):
    start = rubric.end_offsets(bootstrap_servers, topic)
    ours, theirs = rubric.Probes(), rubric.Probes()
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    try:
        for probes in (theirs, ours, theirs):
            producer.send(topic, json.dumps(probes.click(0)).encode()).get(timeout=15)
    finally:
        producer.close(timeout=5)
    values = rubric.marked_records(bootstrap_servers, topic, start, ours.marker, wait_s=0)
    assert [json.loads(value) for value in values] == [ours.click(0)]
    assert rubric.marked_records(bootstrap_servers, topic, rubric.end_offsets(bootstrap_servers, topic),
                                 theirs.marker, wait_s=0) == []


def test_nothing_scores_until_a_valid_click_gets_200():
    probes = rubric.Probes()
    probes.replies = {"click0": rubric.Reply(500, {"error": "boom"}, True), "get": rubric.Reply(405, {"e": "x"}, True)}
    results = rubric.judge(probes, [], "clicks", run_errors=[], output_capped=False)
    assert not any(passed for passed, _ in results.values())
    assert results["wrong_method"][1] == rubric.NOT_CHECKED
