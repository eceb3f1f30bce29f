"""Read the class roster (the LMS's own export plus a `github` column) and match repositories to its students."""

import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from clickkit.errors import GraderError

LOGIN_COLUMN = "github"
EXTENSION_COLUMN = "extension"
# Moodle's CSV import finds a user by one of these profile fields, tried in this order (docs/grading.md).
MOODLE_IDENTIFIERS = ("Username", "Email address", "ID number")
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
EXTRA_TIME = re.compile(r"(\d+(?:\.\d+)?)\s*([dh])", re.IGNORECASE)
HOW_TO_WRITE_EXTENSION = "write extra time as `2d` or `36h`, or a new deadline as `2026-10-05T23:59+02:00`"


class Status(StrEnum):
    """What the grader did with a student or a repository, as every output of the grader spells it."""

    GRADED = "graded"
    LATE = "late"
    MISSING = "missing"
    NOT_GRADED = "not graded"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Student:
    """One roster line: the GitHub login ("" if the instructor left it empty), the row as read, and any extension."""

    login: str
    row: dict
    extension: timedelta | datetime | None = None
    line: int = 0  # the row's number as a spreadsheet shows it, the header being row 1

    @property
    def name(self) -> str:
        """Return the student's name as the roster writes it (Canvas: `Student`; Moodle: first and last name)."""
        cells = {key.lower(): value for key, value in self.row.items()}
        return cells.get("student") or " ".join(filter(None, [cells.get("first name"), cells.get("last name")]))


@dataclass
class Roster:
    """The class as the LMS exported it: its columns, in order, and one Student a line."""

    columns: list
    students: list

    @classmethod
    def read(cls, path: Path) -> "Roster":
        """Read a roster CSV (UTF-8, with or without a BOM), skipping the rows Canvas adds under its header."""
        rows = read_rows(Path(path))
        columns = [name.strip() for name in rows[0]]
        login_column = find_column(columns, LOGIN_COLUMN)
        if login_column is None:
            raise GraderError(
                f"{path} has no `{LOGIN_COLUMN}` column: add one holding each student's GitHub login, keeping the "
                "LMS's other columns as they are."
            )
        students, seen = [], {}
        for number, cells in enumerate(rows[1:], start=2):
            row = {name: cell.strip() for name, cell in zip(columns, cells + [""] * len(columns))}
            if not any(row.values()) or is_canvas_extra_row(row, login_column):
                continue
            student = Student(
                login_of(row[login_column], path, number),
                row,
                extension_of(row, columns, path, number),
                number,
            )
            if student.login and student.login.lower() in seen:
                raise GraderError(
                    f"{path}: rows {seen[student.login.lower()]} and {number} both have the GitHub login "
                    f"{student.login}: each login may belong to one student only."
                )
            seen[student.login.lower()] = number
            students.append(student)
        return cls(columns, students)

    def column(self, name: str) -> str | None:
        """Return the roster's own spelling of a column, found whatever its case, or None."""
        return find_column(self.columns, name)

    def find(self, login: str) -> Student | None:
        """Return the student whose GitHub login this is, compared without case as GitHub does."""
        return next((s for s in self.students if s.login and s.login.lower() == login.lower()), None)

    def moodle_identifier(self) -> str:
        """Return the column Moodle's import identifies students by: Username, else Email address, else ID number."""
        # A column counts only if every student has it filled: Moodle stops the whole import at an unknown user.
        for name in MOODLE_IDENTIFIERS:
            column = self.column(name)
            if column and all(student.row[column] for student in self.students):
                return column
        raise GraderError(
            "moodle.csv needs a column that names every student to Moodle: use Moodle's grades or participants "
            f"export as the roster; it must have one of {', '.join(MOODLE_IDENTIFIERS)} filled on every row."
        )


def read_rows(path: Path) -> list:
    """Return the CSV's rows of text cells, the header first."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # Canvas and Excel write a BOM, which is not part of a name
    except FileNotFoundError:
        raise GraderError(f"The roster {path} does not exist: give ROSTER the path of the LMS's export.") from None
    except UnicodeDecodeError:
        raise GraderError(f'{path} is not UTF-8: save it again as "CSV UTF-8" and give it again.') from None
    rows = list(csv.reader(io.StringIO(text, newline="")))  # newline="": a quoted cell may span lines
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise GraderError(f"{path} is empty: its first row must be the header of the LMS's export.")
    return rows


def find_column(columns: list, name: str) -> str | None:
    return next((column for column in columns if column.lower() == name.lower()), None)


def is_canvas_extra_row(row: dict, login_column: str) -> bool:
    """Tell whether a row is one Canvas writes under its header: Points Possible, or the muted or posting row."""
    student_column = find_column(list(row), "student")
    student = row.get(student_column, "") if student_column else None
    if student is not None and student.lower() == "points possible":
        return True
    return not row[login_column] and student == ""


def login_of(cell: str, path: Path, number: int) -> str:
    login = cell.removeprefix("@")  # an instructor may copy it as GitHub shows it in a mention
    if login and (not GITHUB_LOGIN.fullmatch(login) or "--" in login or login.endswith("-")):
        raise GraderError(
            f"{path}, row {number}: {cell!r} is not a GitHub login (letters, digits and single hyphens, at most "
            "39 characters): write the login alone, as in https://github.com/<login>."
        )
    return login


def extension_of(row: dict, columns: list, path: Path, number: int) -> timedelta | datetime | None:
    """Return the row's extension: extra time (`2d`, `36h`) or a new deadline with its UTC offset, or None."""
    column = find_column(columns, EXTENSION_COLUMN)
    value = row[column] if column else ""
    if not value:
        return None
    extra = EXTRA_TIME.fullmatch(value)
    if extra:
        amount = float(extra.group(1))
        return timedelta(days=amount) if extra.group(2).lower() == "d" else timedelta(hours=amount)
    try:
        deadline = datetime.fromisoformat(value)
    except ValueError:
        raise GraderError(
            f"{path}, row {number}: the extension {value!r} is neither extra time nor a deadline: "
            f"{HOW_TO_WRITE_EXTENSION}."
        ) from None
    if deadline.tzinfo is None:  # a deadline without an offset would depend on the grading machine's time zone
        raise GraderError(f"{path}, row {number}: the deadline {value!r} has no UTC offset: {HOW_TO_WRITE_EXTENSION}.")
    return deadline


def is_repository(path: Path) -> bool:
    """Tell whether the folder is a git repository itself (a `.git` folder, or the file a worktree has)."""
    return path.is_dir() and os.path.lexists(path / ".git")


def repositories(submissions: Path) -> list:
    """Return the repositories to match: SUBMISSIONS itself if it is one student's, else the ones inside it."""
    if is_repository(submissions):
        return [submissions]
    if not submissions.is_dir():
        return []
    # A linked folder is left out: the grader never follows a link a student could have planted.
    return sorted(child for child in submissions.iterdir() if not child.is_symlink() and is_repository(child))


@dataclass
class Matching:
    """Which repositories belong to whom: logins with their repositories, and who or what matched nothing."""

    by_login: dict = field(default_factory=dict)
    unknown: list = field(default_factory=list)
    missing: list = field(default_factory=list)

    @property
    def duplicates(self) -> dict:
        """Return {login: repositories} for every login that more than one repository claims."""
        return {login: repos for login, repos in self.by_login.items() if len(repos) > 1}


def match(repos: list, roster: Roster | None = None, assignment: str | None = None) -> Matching:
    """Give each repository to its student by folder name; nothing is guessed from prefixes the folders share."""
    found = Matching()
    spelled = {}  # lowercase login -> the spelling by_login uses
    for repo in sorted(repos, key=lambda path: path.name):
        login = login_for(repo.name, roster, assignment)
        if login is None:
            found.unknown.append(repo)
            continue
        key = spelled.setdefault(login.lower(), login)
        found.by_login.setdefault(key, []).append(repo)
    if roster is not None:
        found.missing = [s for s in roster.students if not s.login or s.login.lower() not in spelled]
    return found


def login_for(name: str, roster: Roster | None, assignment: str | None) -> str | None:
    """Return the login a folder name belongs to, or None if it belongs to no one known."""
    # With a roster, a folder belongs to the login it is, or ends with after a `-` (the longest such login), or,
    # with ASSIGNMENT too, exactly `<assignment>-<login>`. Without a roster, the login is what follows the
    # assignment's prefix, else the whole folder name. Logins are compared without case, as GitHub does.
    rest = name
    if assignment:
        prefix = assignment.removesuffix("-") + "-"
        if not name.lower().startswith(prefix.lower()) or len(name) == len(prefix):
            return None
        rest = name[len(prefix) :]
    if roster is None:
        return rest
    if assignment:
        student = roster.find(rest)
        return student.login if student else None
    owners = [
        s.login
        for s in roster.students
        if s.login and (name.lower() == s.login.lower() or name.lower().endswith("-" + s.login.lower()))
    ]
    return max(owners, key=len, default=None)
