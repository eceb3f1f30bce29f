"""The grader against the real broker: a generated class, sandboxed, scored check by check, with a class view.

One class of 40 is graded once, two at a time, and shared by the tests below: the solution, the untouched
exercise, a file that is not a notebook, the faults of grading_samples.py, the attacks of attacks.py, and an
honest copy of the solution (a victim) after each attack, so that every attack is graded beside one.
"""

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import psutil
import pytest
from attacks import ATTACKS, write_attack
from grading_samples import EVERYTHING, SAMPLES, write_sample
from kafka import TopicPartition

from clickkit.broker import topics
from clickkit.config import REPO_ROOT
from clickkit.grading import brokers as private_brokers
from clickkit.grading import grade as grading
from clickkit.grading import rubric, watchdog

# One grading run of a class of 40, shared by the tests below, on the grader's own brokers (Java).
pytestmark = [pytest.mark.timeout(1800), pytest.mark.kafka]

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"
EXPECTED_LOST = {
    "solution": set(),
    "exercise-untouched": EVERYTHING,
    "not-a-notebook": EVERYTHING,
    **{name: lost for name, (_, lost) in SAMPLES.items()},
}
VICTIMS = [f"{name}-victim" for name in ATTACKS if name != "no-factory"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the class in one run, two at a time; time it."""
    folder, outside = tmp_path_factory.mktemp("class"), tmp_path_factory.mktemp("instructor")
    (folder / "solution.ipynb").write_bytes(SOLUTION.read_bytes())
    (folder / "exercise-untouched.ipynb").write_bytes(EXERCISE.read_bytes())
    (folder / "not-a-notebook.ipynb").write_text("{ this is not JSON")
    for name in SAMPLES:
        write_sample(name, folder, class_folder=folder, outside=outside, solutions=SOLUTION)
    for name in ATTACKS:
        write_attack(name, folder, SOLUTION, EXERCISE, class_folder=folder, solutions=SOLUTION)
    for victim in VICTIMS:  # sorted by name, each victim is graded right after its attack
        (folder / f"{victim}.ipynb").write_bytes(SOLUTION.read_bytes())
    out = tmp_path_factory.mktemp("gradebook")
    began = time.monotonic()
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = grading.main(
            [str(folder), "--out", str(out), "--jobs", "2", "--cell-timeout", "10", "--notebook-timeout", "90"]
        )
    seconds = time.monotonic() - began
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as csv_file:
        rows = {Path(row["submission"]).stem: row for row in csv.DictReader(csv_file)}
    print(f"\nGraded a class of {len(rows)} at JOBS=2 in {seconds:.0f} s")  # a figure, not an assertion
    return {
        "status": status,
        "printed": printed.getvalue(),
        "rows": rows,
        "out": out,
        "folder": folder,
        "outside": outside,
    }


def test_every_notebook_is_graded_and_the_gradebook_is_written(graded):
    assert graded["status"] == 0, graded["printed"]
    assert set(graded["rows"]) == set(EXPECTED_LOST) | set(ATTACKS) | set(VICTIMS)
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
    passed = sum(
        not EXPECTED_LOST[name] or "recovers" not in EXPECTED_LOST[name]
        for name in EXPECTED_LOST
        if EXPECTED_LOST[name] is not None
    )
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
    ours = {
        line.removeprefix(grading.SANDBOX_LINE).split()[0]
        for log in (graded["out"] / "logs").glob("*.log")
        for line in log.read_text().splitlines()[:1]
        if line.startswith(grading.SANDBOX_LINE)
    }
    assert len(ours) >= len(graded["rows"]) - 1, ours  # every submission but the one that is not a notebook
    left = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout.split()
    assert not set(left) & ours, "a sandboxed process outlived its grading"


def test_no_attack_costs_its_neighbour_a_point(graded):
    control = graded["rows"]["solution"]["points"]
    assert control == str(rubric.MAX_POINTS)
    for victim in VICTIMS:
        feedback = (graded["out"] / "feedback" / f"{victim}.md").read_text()
        assert graded["rows"][victim]["points"] == control, (victim.removesuffix("-victim"), feedback)


def test_cheats_lose_what_they_faked(graded):
    rows = graded["rows"]
    for cheat in ("spoofer", "noproduce"):  # a 200 before Kafka's acknowledgement, or with nothing sent at all
        assert rows[cheat]["answers_200"] == "0", (graded["out"] / "feedback" / f"{cheat}.md").read_text()
    assert "before Kafka had acknowledged" in (graded["out"] / "feedback" / "spoofer.md").read_text()
    assert rows["noproduce"]["click_on_topic"] == "0"
    # The untouched exercise that serves the reference endpoint: the sandbox shows it no reference to import.
    assert int(rows["reference"]["points"]) <= int(rows["exercise-untouched"]["points"])


def test_the_outage_is_graded_without_a_factory(graded):
    assert graded["rows"]["no-factory"]["points"] == str(rubric.MAX_POINTS)


def test_the_sandbox_showed_the_exfiltrator_nothing(graded):
    # Its cell asserts it saw no instructor variable, no interface but loopback, no hidden module, no other
    # topic and no record of another submission: runs_cleanly is that assertion passing.
    feedback = (graded["out"] / "feedback" / "exfil.md").read_text()
    assert graded["rows"]["exfil"]["runs_cleanly"] == "1", feedback


def test_each_log_says_what_holds_its_sandbox(graded):
    log = (graded["out"] / "logs" / "resource.log").read_text()
    assert "Sandbox control group: " in log


def test_the_vandal_was_refused_and_logged(graded):
    log = (graded["out"] / "logs" / "vandal.log").read_text()
    assert "refused requests that change the broker" in log and "api key 20" in log


def test_a_broker_fault_is_a_grader_error_and_costs_no_points(tmp_path, monkeypatch, capsys):
    """Records vanish from the private broker behind the grader's back: the submission is not graded."""
    (tmp_path / "solution.ipynb").write_bytes(SOLUTION.read_bytes())
    stop, emptied = threading.Event(), private_brokers.empty

    def purge(bootstrap_servers, topic):
        while not stop.wait(1.0):
            try:
                with topics.admin(bootstrap_servers, timeout_s=5) as client:
                    client.delete_records({TopicPartition(topic, 0): -1})
            except Exception:  # nothing written yet, or the broker is being emptied: try again
                pass

    def empty_then_fault(bootstrap_servers, topic):
        emptied(bootstrap_servers, topic)
        threading.Thread(target=purge, args=(bootstrap_servers, topic), daemon=True).start()

    monkeypatch.setattr(private_brokers, "empty", empty_then_fault)
    try:
        status = grading.main([str(tmp_path), "--out", str(tmp_path / "out")])
    finally:
        stop.set()
    assert status == 1
    assert "GRADER ERROR: 1 notebooks not graded" in capsys.readouterr().err
    with open(tmp_path / "out" / "gradebook.csv", newline="", encoding="utf-8") as csv_file:
        row = next(csv.DictReader(csv_file))
    assert row["points"] == "not graded" and row["answers_200"] == ""
    assert "not your fault" in (tmp_path / "out" / "feedback" / "solution.md").read_text()


def test_the_docs_rubric_table_is_the_rubric():
    docs = (REPO_ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    section = docs.split("## The rubric", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{c.key}` | {c.points} | {c.requirement} |" for c in rubric.RUBRIC]
    assert f"## The rubric (<!-- MAX_POINTS -->{rubric.MAX_POINTS}<!-- end --> points)" in docs


def start_grading(tmp_path, names: list):
    """Start make grade's program on copies of the solution; return it, its output folder and its scratch folder."""
    class_folder, scratch, out = tmp_path / "class", tmp_path / "scratch", tmp_path / "out"
    class_folder.mkdir()
    scratch.mkdir()
    for name in names:
        (class_folder / f"{name}.ipynb").write_bytes(SOLUTION.read_bytes())
    grader = subprocess.Popen(
        [sys.executable, "-m", "clickkit.grading", str(class_folder), "--out", str(out)],
        env=dict(os.environ, TMPDIR=str(scratch)),  # the private brokers' folders: how to find their processes
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return grader, out, scratch


def leftovers(scratch: Path, uid: str, folders: list) -> list:
    """Return what still runs of a grading (its brokers, its sandboxes' processes) and the folders still there."""
    left = [str(folder) for folder in folders if folder.exists()]
    for process in psutil.process_iter(["cmdline", "uids", "status"]):
        info = process.info
        command = " ".join(info["cmdline"] or [])
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(place) in command for place in [scratch, *folders]) or (
            info["uids"] and str(info["uids"].real) == uid
        ):
            left.append(command[:300])
    return left


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_or_killed_grader_leaves_no_sandbox_private_broker_or_folder_behind(tmp_path, stop):
    grader, out, scratch = start_grading(tmp_path, ["solution"])
    log, deadline = out / "logs" / "solution.log", time.monotonic() + 300
    while time.monotonic() < deadline and grader.poll() is None:
        if log.exists() and grading.SANDBOX_LINE in log.read_text(encoding="utf-8"):
            break
        time.sleep(0.2)
    assert grader.poll() is None, grader.communicate()
    uid = log.read_text(encoding="utf-8").split(grading.SANDBOX_LINE, 1)[1].split()[0]
    time.sleep(2)  # well inside the grading of the notebook: its sandbox is up
    folders = [  # its submissions' folders, and the brokers' folder: the grader names itself in each
        path.parent
        for root, prefix in [(Path(watchdog.WORK_ROOT), watchdog.WORK_PREFIX), (scratch, watchdog.BROKERS_PREFIX)]
        for path in root.glob(f"{prefix}*/{watchdog.OWNER_FILE}")
        if path.read_text(encoding="utf-8").split()[0] == str(grader.pid)
    ]
    assert len(folders) == 2 and leftovers(scratch, uid, folders), folders  # what the stop must end
    grader.send_signal(stop)
    stdout, stderr = grader.communicate(timeout=120)
    if stop == signal.SIGTERM:
        assert grader.returncode == 130, stdout + stderr
        assert "Stopped: no gradebook written" in stderr
    # After a SIGKILL the grader's watchdog, and each run's own watch on the grader, clean up: give them time.
    deadline = time.monotonic() + 60
    while leftovers(scratch, uid, folders) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = leftovers(scratch, uid, folders)
    for process in psutil.process_iter(["cmdline"]):  # what a failing run leaves behind must not outlive the test
        if any(str(place) in " ".join(process.info["cmdline"] or []) for place in [scratch, *folders]):
            process.kill()
    assert not left, f"still there after the grader stopped: {left}"


def test_private_brokers_that_die_are_replaced_and_no_submission_loses_a_point(tmp_path):
    grader, out, scratch = start_grading(tmp_path, [f"student-{n}" for n in range(3)])
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list((out / "logs").glob("*.log")):
            time.sleep(0.2)
        killed = [  # every private broker at once, as a crash of the machine's Java would
            process.kill() or process.pid
            for process in psutil.process_iter(["cmdline"])
            if "kafka.Kafka" in (process.info["cmdline"] or []) and str(scratch) in " ".join(process.info["cmdline"])
        ]
        stdout, stderr = grader.communicate(timeout=900)
    finally:
        if grader.poll() is None:
            grader.kill()
    assert len(killed) == 2, killed  # JOBS=1: one broker for the notebook running, one for the next
    assert grader.returncode == 0, stdout + stderr
    assert "starting another private broker in its place" in stderr
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as csv_file:
        points = {row["submission"]: row["points"] for row in csv.DictReader(csv_file)}
    assert points == {f"student-{n}.ipynb": str(rubric.MAX_POINTS) for n in range(3)}, stderr
