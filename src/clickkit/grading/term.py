"""Keep a class's gradebook folder over the term: its results as JSON, regrades, overrides, the LMS files, the log.

results.json holds every Result and the run's settings, so that a regrade (STUDENT) or an override rewrites
every output from the merged results; changes.log says who changed what, and when.
"""

import csv
import dataclasses
import getpass
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import nbformat

from clickkit.config import REPO_ROOT
from clickkit.errors import GraderError, KitError
from clickkit.grading import gradebook, lms, rubric, similarity
from clickkit.grading.roster import Roster, Status

RESULTS = "results.json"
CHANGES = "changes.log"
GRADED_COPIES = "graded"  # each notebook as it was graded, read from its commit: what similarity.html compares
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"  # the given code, left out of the comparison
OVERRIDE_COLUMNS = ("github", "check", "points", "reason")


def lab_title(exercise: Path = EXERCISE) -> str:
    """Return the lab's title, its exercise's first heading (`01 · The ingest API`): the LMS column's default."""
    for cell in nbformat.read(exercise, as_version=4).cells:
        for line in cell.source.splitlines() if cell.cell_type == "markdown" else []:
            if line.startswith("# "):  # `01 · The ingest API (exercise)`: the LMS column is the lab's own name
                return line[2:].strip().removesuffix("(exercise)").strip()
    return exercise.stem


def save(folder: Path, results: list, settings: dict) -> None:
    """Write results.json: every Result's fields and the settings the class was graded with."""
    data = {"settings": settings, "results": [dataclasses.asdict(result) for result in results]}
    (folder / RESULTS).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load(folder: Path) -> tuple:
    """Return (results, settings) from a gradebook folder's results.json; raise GraderError if it has none."""
    try:
        data = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GraderError(
            f"{folder} holds no {RESULTS}: give as OUT the folder an earlier `make grade` wrote."
        ) from None
    return [gradebook.Result(**fields) for fields in data["results"]], data["settings"]


def same_login(result: gradebook.Result, login: str) -> bool:
    return result.login.lower() == login.lower()


def merged(old: list, new: list, login: str) -> list:
    """Return the old results with the student's rows replaced by the new ones, keeping the instructor's overrides."""
    names = {r.submission.lower() for r in new} | {login.lower()}
    gone = [r for r in old if same_login(r, login) or r.submission.lower() in names]
    kept = {key: change for r in gone for key, change in r.overrides.items()}
    new = [dataclasses.replace(r, overrides={**kept, **r.overrides}) for r in new]
    return sorted([r for r in old if r not in gone] + new, key=lambda r: r.submission.lower())


def read_overrides(path: Path, results: list) -> list:
    """Return the rows of an OVERRIDES CSV (github, check, points, reason); refuse unknown logins and checks."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
            columns = [name.strip().lower() for name in rows[0]] if rows else []
    except FileNotFoundError:
        raise GraderError(f"OVERRIDES={path} does not exist.") from None
    if not set(OVERRIDE_COLUMNS) <= set(columns):
        raise GraderError(f"OVERRIDES={path} must have the columns {','.join(OVERRIDE_COLUMNS)}.")
    logins = {r.login.lower() for r in results}
    found = []
    for line, row in enumerate(rows, start=2):
        row = {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
        login, check = row["github"].removeprefix("@"), row["check"]
        top = rubric.MAX_POINTS if check == gradebook.TOTAL else getattr(rubric.CHECKS.get(check), "points", None)
        where = f"OVERRIDES={path}, row {line}"
        if login.lower() not in logins:
            raise GraderError(f"{where}: {login!r} is no student of this gradebook (its github column).")
        if top is None:
            keys = ", ".join([gradebook.TOTAL, *rubric.CHECKS])
            raise GraderError(f"{where}: {check!r} is no check; write one of {keys}.")
        try:
            points = float(row["points"])
        except ValueError:
            raise GraderError(f"{where}: points {row['points']!r} is not a number.") from None
        if not 0 <= points <= top or not row["reason"]:
            raise GraderError(f"{where}: points must be between 0 and {top}, and a reason must be given.")
        found.append((login, check, points, row["reason"]))
    return found


def override(results: list, rows: list) -> list:
    """Apply the overrides to the results; return a sentence per change, for changes.log."""
    said = []
    for login, check, points, reason in rows:
        for result in results:
            if same_login(result, login):
                was = result.points if check == gradebook.TOTAL else result.check_points(check)
                result.overrides[check] = {"points": points, "reason": reason, "was": was}
                said.append(
                    f"override of {result.submission}'s {check}: {was} -> {gradebook.number(points)} ({reason})"
                )
    return said


def log_changes(folder: Path, sentences: list) -> None:
    """Append to changes.log who (the OS user), when and what."""
    who, when = getpass.getuser(), datetime.now().astimezone().isoformat(timespec="seconds")
    with open(folder / CHANGES, "a", encoding="utf-8") as log:
        log.writelines(f"{when} {who}: {gradebook.printable(sentence)}\n" for sentence in sentences)


def keep_copy(folder: Path, stem: str, data: bytes) -> None:
    """Keep the notebook as graded, for similarity.html now and after a regrade."""
    (folder / GRADED_COPIES).mkdir(parents=True, exist_ok=True)
    (folder / GRADED_COPIES / f"{stem}.ipynb").write_bytes(data)


def write_similarity(folder: Path, results: list) -> str:
    """Write similarity.html over the notebooks graded; return gradebook.md's line that links it."""
    copies = {}
    for stem, result in zip(gradebook.stems_of(results), results):
        copy = folder / GRADED_COPIES / f"{stem}.ipynb"
        if result.judged and copy.exists():
            copies[result.submission] = copy.read_bytes()
    found = similarity.report_notebooks(copies, EXERCISE, folder / similarity.PAGE)
    return similarity.gradebook_line(found)


def lms_grades(results: list) -> tuple:
    """Return ({login: points, or None when not graded}, {login: feedback sentences}) for lms.write_*."""
    grades, feedback, seen = {}, {}, Counter(r.login.lower() for r in results if r.github)
    for r in results:
        if not r.github:
            continue  # an unknown repository: no roster line to write
        feedback[r.login] = gradebook.sentences(r)
        if r.status == Status.MISSING and r.points == "":
            continue  # absent from grades: lms applies MISSING
        duplicate = seen[r.login.lower()] > 1  # two repositories for one login: the instructor decides
        grades[r.login] = None if duplicate or r.points in ("", "not graded") else r.points
    return grades, feedback


def write_lms(folder: Path, roster: Roster, results: list, column: str, missing: str) -> list:
    """Write canvas.csv and moodle.csv where the roster allows; return a sentence on each, written or why not."""
    grades, feedback = lms_grades(results)
    said = []
    writers = {
        "canvas.csv": lambda path: lms.write_canvas(path, roster, grades, column, rubric.MAX_POINTS, missing),
        "moodle.csv": lambda path: lms.write_moodle(path, roster, grades, feedback, column, missing),
    }
    for name, write in writers.items():
        try:
            write(folder / name)
            said.append(f"{name} written (column {column!r}, MISSING={missing})")
        except KitError as why:  # the roster is the other LMS's: that file is not written, and said why
            (folder / name).unlink(missing_ok=True)
            said.append(f"{name} not written: {why}")
    return said


def counts(results: list) -> str:
    """Return the run's closing count: `40 students: 35 graded, 2 late, 2 missing, 1 unknown, 0 not graded`."""
    counted = Counter(r.status for r in results)
    students = f"{len(results)} student{'s' if len(results) != 1 else ''}"
    return f"{students}: " + ", ".join(f"{counted[status]} {status}" for status in Status)
