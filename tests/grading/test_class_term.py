"""The instructor's term: a class of real git repositories, a Canvas roster, a deadline, a regrade and overrides.

test_a_term_of_grading runs it all for real (sandboxes, private brokers); test_the_term_wiring runs the same
class with the notebooks' verdicts faked, in seconds, so that every status, file and cell is checked apart.
"""

import csv
import io
import time
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
from student_repos import commit, new_repo

from clickkit.config import REPO_ROOT
from clickkit.grading import grade as grading
from clickkit.grading import gradebook, rubric, term

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"
LAB = "notebooks/01-ingest-api.ipynb"
DEADLINE, LATE, COLLECTED = "2027-01-15T23:59+01:00", "10%/day,max=3d", "2027-01-26T00:00+01:00"
TITLE = term.lab_title()
# Code of the students' own, each distinct but the pair's: jo-brown's is jo-smith's with every name changed.
OWN = {
    "ada": "def busiest_hour(events):\n    counts = {}\n    for event in events:\n        hour = event['ts'][11:13]\n"
    "        counts[hour] = counts.get(hour, 0) + 1\n    return max(counts, key=counts.get) if counts else None\n\n"
    "print(busiest_hour([{'ts': '2027-01-10T09:15:00'}, {'ts': '2027-01-10T09:45:00'}]))",
    "ext-eve": "import statistics\n\nsizes = [len(word) for word in 'the quick brown fox jumps over it'.split()]\n"
    "spread = statistics.pstdev(sizes)\nmiddle = statistics.median(sizes)\nprint(f'{middle=} {spread=:.2f}')",
    "jo-smith": "def sessions(clicks, gap=1800):\n    ordered = sorted(clicks, key=lambda click: click['at'])\n"
    "    found, current = [], []\n    for click in ordered:\n"
    "        if current and click['at'] - current[-1]['at'] > gap:\n"
    "            found.append(current)\n            current = []\n        current.append(click)\n"
    "    if current:\n        found.append(current)\n    return [len(session) for session in found]\n\n"
    "print(sessions([{'at': 0}, {'at': 60}, {'at': 5000}, {'at': 5100}, {'at': 9999}]))",
    "nobook": "letters = {}\nfor letter in 'mississippi':\n    letters[letter] = letters.get(letter, 0) + 1\n"
    "ranked = sorted(letters.items(), key=lambda pair: (-pair[1], pair[0]))\nprint(ranked[:2])",
}
OWN["jo-brown"] = (
    OWN["jo-smith"]
    .replace("sessions", "visits")
    .replace("clicks", "hits")
    .replace("click", "hit")
    .replace("current", "run")
    .replace("found", "groups")
    .replace("gap", "pause")
)
# Roster rows: name, Canvas ID, section, github login, extension.
CLASS = [
    ("Lovelace, Ada", "101", "A", "ada", ""),
    ("Lin, Late", "102", "A", "late-lin", ""),
    ("Eve, Extended", "103", "B", "ext-eve", "2d"),
    ("Smith, Jo", "104", "B", "jo-smith", ""),
    ("Brown, Jo", "105", "B", "jo-brown", ""),
    ("Gone, Gus", "106", "A", "gone", ""),
    ("Book, No", "107", "A", "nobook", ""),
]
OVERRIDES = [
    ("ada", "runs_cleanly", "1", "Her last cell timed out on the grader's network only."),
    ("jo-brown", "total", "2", "The code is jo-smith's, as discussed in office hours."),
]


def exercise_with(code: str) -> bytes:
    """Return the exercise with one code cell of the student's own added at its end."""
    notebook = nbformat.read(EXERCISE, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(code))
    return nbformat.writes(notebook).encode()


def build_class(root: Path) -> dict:
    """Build the repositories and the roster; return {login: the commit to be graded}."""
    folder = root / "class"
    graded = {}
    ada = new_repo(folder / "ingest-lab-ada")
    commit(ada, "2027-01-10T09:00+01:00", {LAB: EXERCISE.read_bytes()})
    graded["ada"] = commit(ada, "2027-01-15T20:00+01:00", {LAB: exercise_with(OWN["ada"])})
    commit(ada, "2027-01-25T10:00+01:00", {"README.md": "too late: past max=3d, never graded"})
    lin = new_repo(folder / "ingest-lab-late-lin")
    commit(lin, "2027-01-14T10:00+01:00", {LAB: EXERCISE.read_bytes()})
    graded["late-lin"] = commit(lin, "2027-01-17T10:00+01:00", {LAB: SOLUTION.read_bytes()})  # 1 d 10 h late
    eve = new_repo(folder / "ingest-lab-ext-eve")  # renamed and moved, on time with her 2 days
    graded["ext-eve"] = commit(eve, "2027-01-17T18:00+01:00", {"lab/my ingest.ipynb": exercise_with(OWN["ext-eve"])})
    for login, when in (("jo-smith", "2027-01-15T12:00+01:00"), ("jo-brown", "2027-01-15T13:00+01:00")):
        graded[login] = commit(new_repo(folder / f"ingest-lab-{login}"), when, {LAB: exercise_with(OWN[login])})
    commit(new_repo(folder / "ingest-lab-nobook"), "2027-01-12T10:00+01:00", {"README.md": "soon"})
    commit(new_repo(folder / "ingest-lab-stranger"), "2027-01-12T10:00+01:00", {LAB: SOLUTION.read_bytes()})
    header = "Student,ID,SIS User ID,SIS Login ID,Section,Email address,github,extension,Lab 01 (9001)\n"
    lines = [header, "    Points Possible,,,,,,,,17\n"]
    lines += [
        f'"{name}",{id_},s{id_},{login},Section {section},{login}@example.org,{login},{ext},\n'
        for name, id_, section, login, ext in CLASS
    ]
    (root / "roster.csv").write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode())
    (root / "overrides.csv").write_text(
        "github,check,points,reason\n" + "".join(f'{a},{b},{c},"{d}"\n' for a, b, c, d in OVERRIDES)
    )
    return {"folder": folder, "graded": graded, "roster": root / "roster.csv", "overrides": root / "overrides.csv"}


def run(*argv) -> tuple:
    """Run make grade's program; return its exit status and what it printed."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = grading.main([str(arg) for arg in argv])
    return status, printed.getvalue()


def rows_of(path: Path, key: str) -> dict:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return {row[key]: row for row in csv.DictReader(file)}


def grade_the_term(tmp_path: Path) -> dict:
    """Grade the class, regrade nobook after her notebook turned up, apply the overrides; time each step."""
    made = build_class(tmp_path)
    out, times = tmp_path / "gradebook", {}
    began = time.monotonic()
    first = run(
        made["folder"],
        "--out",
        out,
        "--roster",
        made["roster"],
        "--deadline",
        DEADLINE,
        "--late",
        LATE,
        "--collected-at",
        COLLECTED,
        "--jobs",
        "2",
        "--cell-timeout",
        "10",
        "--notebook-timeout",
        "90",
    )
    times["class"] = time.monotonic() - began
    before = rows_of(out / "gradebook.csv", "github")
    found = commit(made["folder"] / "ingest-lab-nobook", "2027-01-15T23:00+01:00", {LAB: exercise_with(OWN["nobook"])})
    regrade = run(
        made["folder"],
        "--out",
        out,
        "--student",
        "nobook",
        "--jobs",
        "2",
        "--cell-timeout",
        "10",
        "--notebook-timeout",
        "90",
    )
    times["regrade"] = time.monotonic() - began - times["class"]
    overridden = run("--out", out, "--overrides", made["overrides"])
    times["overrides"] = time.monotonic() - began - sum(times.values())
    print("\nterm:", ", ".join(f"{step} {seconds:.0f} s" for step, seconds in times.items()))  # a figure
    return {
        **made,
        "out": out,
        "first": first,
        "before": before,
        "regrade": regrade,
        "overridden": overridden,
        "nobook": found,
    }


def check_the_term(term_run: dict, points: dict) -> None:
    """Assert every status, commit, penalty, import cell, override and the similarity's top pair."""
    out, graded = term_run["out"], term_run["graded"]
    assert term_run["first"][0] == 0, term_run["first"][1]
    assert "8 students: 4 graded, 1 late, 2 missing, 0 not graded, 1 unknown" in term_run["first"][1]
    assert "8 students: 5 graded, 1 late, 1 missing, 0 not graded, 1 unknown" in term_run["regrade"][1]
    before, rows = term_run["before"], rows_of(out / "gradebook.csv", "submission")
    statuses = {row["submission"]: row["status"] for row in rows.values()}
    assert statuses == {
        "ada": "graded",
        "late-lin": "late",
        "ext-eve": "graded",
        "jo-smith": "graded",
        "jo-brown": "graded",
        "gone": "missing",
        "nobook": "graded",
        "ingest-lab-stranger": "unknown",
    }
    assert before["nobook"]["status"] == "missing" and before["nobook"]["points"] == ""
    assert {login: rows[login]["commit"] for login in graded} == graded
    assert rows["nobook"]["commit"] == term_run["nobook"]
    assert rows["ada"]["later_commits"] == "1" and "not graded" in rows["ada"]["notes"]
    assert rows["late-lin"]["penalty"] == "0.2" and rows["late-lin"]["committed_at"] == "2027-01-17T10:00:00+01:00"
    assert rows["ext-eve"]["found_at"] == "lab/my ingest.ipynb" and rows["ext-eve"]["penalty"] == ""
    assert rows["gone"]["points"] == "" and rows["ingest-lab-stranger"]["points"] == ""
    for login in ("ada", "late-lin", "ext-eve", "jo-smith"):  # the others' rows are as the first run left them
        if login != "ada":
            assert rows[login] == {**before[login], "submission": login}, login
    assert {row["lab"] for row in rows.values()} == {"01"}
    # The import files, cell by cell: Canvas's five identity columns and the lab's, and Moodle's three.
    with open(out / "canvas.csv", newline="", encoding="utf-8-sig") as file:
        canvas = list(csv.reader(file))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", TITLE]
    assert canvas[1] == ["    Points Possible", "", "", "", "", str(rubric.MAX_POINTS)]
    assert canvas[2:] == [
        [name, id_, f"s{id_}", login, f"Section {section}", points[login]] for name, id_, section, login, _ in CLASS
    ]
    with open(out / "moodle.csv", newline="", encoding="utf-8") as file:
        moodle = list(csv.reader(file))
    assert moodle[0] == ["Email address", TITLE, f"{TITLE} feedback"]
    assert [row[:2] for row in moodle[1:]] == [[f"{login}@example.org", points[login]] for *_, login, _ in CLASS]
    feedback = {row[0].split("@")[0]: row[2] for row in moodle[1:]}
    assert "20% off" in feedback["late-lin"] and "missing: no repository for gone" in feedback["gone"]
    assert (
        rubric.CHECKS["runs_cleanly"].requirement in feedback["ext-eve"] and "runs_cleanly" not in feedback["ext-eve"]
    )
    # The overrides: in every output, with their reasons, and logged with the regrade.
    ada = (out / "feedback" / "ada.md").read_text(encoding="utf-8")
    assert "timed out on the grader" in ada and "timed out on the grader" in feedback["ada"]
    assert rows["ada"]["runs_cleanly"] == "1" and rows["jo-brown"]["points"] == "2"
    assert "office hours" in (out / "feedback" / "jo-brown.md").read_text(encoding="utf-8")
    missing = (out / "feedback" / "gone.md").read_text(encoding="utf-8")
    assert missing.count("no repository for gone") == 1 and "## " not in missing
    log = (out / "changes.log").read_text(encoding="utf-8")
    assert "regrade of nobook" in log and "override of jo-brown's total" in log and "override of ada's" in log
    # The copied pair is the similarity report's top pair; gradebook.md links the report.
    page = (out / "similarity.html").read_text(encoding="utf-8")
    first_row = page.split("<tr><td>", 1)[1].split("</tr>", 1)[0]
    assert "jo-brown" in first_row and "jo-smith" in first_row
    assert "(similarity.html)" in (out / "gradebook.md").read_text(encoding="utf-8")


def expected_points(ada: str, late_lin: str, others: str) -> dict:
    """Return each roster student's cell in the import files once the overrides are applied."""
    return {
        "ada": ada,
        "late-lin": late_lin,
        "ext-eve": others,
        "jo-smith": others,
        "jo-brown": "2",
        "gone": "0",
        "nobook": others,
    }


def test_the_term_wiring(tmp_path, monkeypatch):
    """The whole term with the notebooks' verdicts faked: the solution passes every check, the rest none."""
    solution = SOLUTION.read_bytes()

    def fake_grade_class(entries, out, jobs, limits):
        results = []
        for entry in entries:
            data = entry.load()
            term.keep_copy(out, entry.stem, data)
            verdicts = {check.key: {"passed": data == solution, "note": "faked"} for check in rubric.RUBRIC}
            results.append(gradebook.Result(entry.submission, verdicts, stem=entry.stem))
        return results

    monkeypatch.setattr(grading, "grade_class", fake_grade_class)
    check_the_term(grade_the_term(tmp_path), expected_points("1", "13.6", "0"))


@pytest.mark.kafka
@pytest.mark.timeout(1200)
def test_a_term_of_grading(tmp_path):
    """The same term graded for real: five notebooks in the class run, then the regraded one."""
    check_the_term(grade_the_term(tmp_path), expected_points("1", "13.6", "0"))


def test_only_lab_01_is_graded_so_far(tmp_path, capsys):
    assert grading.main([str(tmp_path), "--labs", "04", "--out", str(tmp_path / "out")]) == 1
    assert "only lab 01 is graded so far" in capsys.readouterr().err


def test_an_override_of_an_unknown_check_or_login_is_refused(tmp_path, monkeypatch, capsys):
    made = build_class(tmp_path)
    monkeypatch.setattr(grading, "grade_class", lambda *args: pytest.fail("nothing may run"))
    for line, said in [("ada,speed,1,fast", "'speed' is no check"), ("zed,total,1,why", "'zed' is no student")]:
        (tmp_path / "bad.csv").write_text(f"github,check,points,reason\n{line}\n")
        assert (
            grading.main(
                [
                    str(made["folder"]),
                    "--roster",
                    str(made["roster"]),
                    "--overrides",
                    str(tmp_path / "bad.csv"),
                    "--out",
                    str(tmp_path / "out"),
                ]
            )
            == 1
        )
        assert said in capsys.readouterr().err


def fake_grades(monkeypatch) -> None:
    """Grade without a kernel: every notebook passes every check."""

    def grade_class(entries, out, jobs, limits):
        verdicts = {check.key: {"passed": True} for check in rubric.RUBRIC}
        return [gradebook.Result(entry.submission, verdicts, stem=entry.stem) for entry in entries if entry.load()]

    monkeypatch.setattr(grading, "grade_class", grade_class)


def test_without_a_roster_a_login_is_the_whole_folder_name_or_what_follows_assignment(tmp_path, monkeypatch):
    fake_grades(monkeypatch)
    for name in ("ingest-lab-jo-smith", "ingest-lab-jo-brown", "lab-ada"):
        commit(new_repo(tmp_path / "class" / name), "2027-01-10T09:00+01:00", {LAB: EXERCISE.read_bytes()})
    assert run(tmp_path / "class", "--out", tmp_path / "whole")[0] == 0
    assert set(rows_of(tmp_path / "whole" / "gradebook.csv", "github")) == {
        "ingest-lab-jo-smith",
        "ingest-lab-jo-brown",
        "lab-ada",
    }
    status, printed = run(tmp_path / "class", "--out", tmp_path / "prefixed", "--assignment", "ingest-lab")
    rows = rows_of(tmp_path / "prefixed" / "gradebook.csv", "submission")
    assert {name: row["status"] for name, row in rows.items()} == {
        "jo-smith": "graded",
        "jo-brown": "graded",
        "lab-ada": "unknown",
    }
    assert rows["jo-smith"]["commit"] and "canvas.csv and moodle.csv not written: no ROSTER given" in printed
    # One student's repository as SUBMISSIONS is one student, not a folder of notebooks.
    assert run(tmp_path / "class" / "lab-ada", "--out", tmp_path / "one")[0] == 0
    assert list(rows_of(tmp_path / "one" / "gradebook.csv", "submission")) == ["lab-ada"]


def test_a_moodle_roster_writes_moodle_csv_and_says_why_not_canvas_csv(tmp_path, monkeypatch):
    fake_grades(monkeypatch)
    commit(new_repo(tmp_path / "class" / "ingest-lab-ada"), "2027-01-10T09:00+01:00", {LAB: EXERCISE.read_bytes()})
    (tmp_path / "moodle.csv").write_text(
        "First name,Last name,Email address,github\nAda,L,ada@x.org,ada\nBo,B,b@x.org,bo\n"
    )
    status, printed = run(
        tmp_path / "class", "--roster", tmp_path / "moodle.csv", "--out", tmp_path / "out", "--missing", "empty"
    )
    assert status == 0 and "moodle.csv written" in printed and "canvas.csv not written: canvas.csv needs" in printed
    with open(tmp_path / "out" / "moodle.csv", newline="", encoding="utf-8") as file:
        assert [row[:2] for row in csv.reader(file)] == [["Email address", TITLE], ["ada@x.org", "17"], ["b@x.org", ""]]
    assert not (tmp_path / "out" / "canvas.csv").exists()
