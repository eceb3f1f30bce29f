"""Write the files an LMS imports with no hand edit: canvas.csv (Canvas's gradebook) and moodle.csv (Moodle's CSV).

Both have one row per roster student. `grades` maps a login to its points (late penalty and overrides applied),
or to None when the grader could not grade it; a login absent from `grades` is a missing student.
"""

import csv
from pathlib import Path

from clickkit.errors import GraderError
from clickkit.grading.roster import Roster, Student

# Canvas matches a row to its student by these columns of its own export, which its import requires first.
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's export spells it; sets the points of a new column
MISSING_POLICIES = {"zero": 0, "empty": ""}
# Cells a spreadsheet would run as a formula (OWASP, "CSV Injection"): a leading ' makes them text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_canvas(
    path: Path, roster: Roster, grades: dict, column: str, max_points: float, missing: str = "zero"
) -> None:
    """Write Canvas's gradebook import: its five identity columns from the roster, then the lab's column."""
    identity = [roster.column(name) for name in CANVAS_IDENTITY]
    if identity[0] is None or identity[1] is None:
        raise GraderError(
            "canvas.csv needs a Canvas roster, with its Student and ID columns: export the gradebook from Canvas "
            "(Grades, Export, Export Entire Gradebook), add a `github` column, and give that file as ROSTER."
        )
    header = [*CANVAS_IDENTITY, neutral(column)]
    points_row = [CANVAS_POINTS_ROW, "", "", "", "", grade_cell(max_points)]
    rows = [
        [neutral(student.row[name]) if name else "" for name in identity]
        + [grade_cell(points_of(student, grades, missing))]
        for student in roster.students
    ]
    write_csv(path, [header, points_row, *rows], "utf-8-sig")  # Canvas's own export starts with a BOM


def write_moodle(path: Path, roster: Roster, grades: dict, feedback: dict, column: str, missing: str = "zero") -> None:
    """Write Moodle's CSV grade import: the student's identifier, the grade, and the feedback in sentences."""
    identifier = roster.moodle_identifier()
    header = [identifier, neutral(column), neutral(f"{column} feedback")]
    rows = [
        [
            neutral(student.row[identifier]),
            grade_cell(points_of(student, grades, missing)),
            neutral(lookup(feedback, student.login) or ""),
        ]
        for student in roster.students
    ]
    write_csv(path, [header, *rows], "utf-8")  # Moodle's import reads UTF-8 by default and drops a BOM anyway


def points_of(student: Student, grades: dict, missing: str) -> float | str:
    """Return the student's points; "" when not graded; the MISSING policy's cell when they handed in nothing."""
    if missing not in MISSING_POLICIES:
        raise GraderError(f"MISSING={missing} is not a policy: write MISSING=zero or MISSING=empty.")
    key = next((key for key in grades if student.login and key.lower() == student.login.lower()), None)
    if key is None:
        return MISSING_POLICIES[missing]
    return "" if grades[key] is None else grades[key]


def lookup(mapping: dict, login: str):
    """Return the value for a login, compared without case as GitHub does, or None."""
    return next((value for key, value in mapping.items() if key.lower() == login.lower()), None)


def grade_cell(points) -> int | float | str:
    """Return a grade as a number (whole numbers without `.0`), or "" for no grade."""
    if points == "" or points is None:
        return ""
    points = round(float(points), 2)
    return int(points) if points.is_integer() else points


def neutral(text: str) -> str:
    """Return text a spreadsheet shows as text: a cell that would start a formula gets a leading `'`."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(path: Path, rows: list, encoding: str) -> None:
    """Write RFC 4180 CSV: commas, double quotes where needed, CRLF line ends."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as out:
        csv.writer(out).writerows(rows)
