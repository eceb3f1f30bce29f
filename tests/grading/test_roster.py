"""The roster: reading the LMS's own exports, extensions, and giving each repository to its student."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from clickkit.errors import GraderError
from clickkit.grading.roster import Roster, Status, is_repository, match, repositories

# Canvas's gradebook export as it downloads (a BOM, CRLF, the Points Possible row and the posting-policy row under
# the header, a Section with a comma, quoted names, the Test Student), with the instructor's github and extension.
CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Ingest Lab (48213),Current Score,Final Score,"
    " GitHub ,Extension\r\n"
    "    Points Possible,,,,,10.00,(read only),(read only),,\r\n"
    ",,,,,Manual Posting,,,,\r\n"
    '"Smith, Jo",1001,S-1001,jsmith,"CS 101, Section 2 (Fall)",,80,80,jo-smith,2d\r\n'
    '"Brown, Jo",1002,S-1002,jbrown,"CS 101, Section 2 (Fall)",,75,75,Jo-Brown,\r\n'
    '"Smith, Al",1003,S-1003,asmith,"CS 101, Section 1",,90,90,smith,2026-10-05T23:59+02:00\r\n'
    '"Ñúñez, Zoë",1004,S-1004,znunez,"CS 101, Section 1",,60,60,ZNunez,36h\r\n'
    '"Student, Test",1099,,,"CS 101, Section 1",,,,,\r\n'
)
MOODLE_GRADES_EXPORT = (
    "First name,Last name,ID number,Institution,Department,Email address,Assignment: Ingest lab (Real),"
    "Last downloaded from this course,github\n"
    "Jo,Smith,,Uni,CS,jo.smith@example.edu,-,1765000000,jo-smith\n"
    "Zoë,Ñúñez,20261004,Uni,CS,zoe.nunez@example.edu,-,1765000000,znunez\n"
)
MOODLE_PARTICIPANTS_EXPORT = (
    "First name,Last name,Username,Email address,Roles,Groups,github\n"
    "Jo,Smith,jsmith,jo.smith@example.edu,Student,,jo-smith\n"
)


def roster_file(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def canvas_roster(tmp_path: Path) -> Roster:
    return Roster.read(roster_file(tmp_path, CANVAS_EXPORT))


def test_a_canvas_export_reads_without_its_bom_points_possible_and_posting_rows(tmp_path):
    roster = canvas_roster(tmp_path)
    assert roster.columns[0] == "Student" and roster.column("GITHUB") == "GitHub"  # BOM gone, names trimmed
    assert [s.login for s in roster.students] == ["jo-smith", "Jo-Brown", "smith", "ZNunez", ""]
    assert [s.line for s in roster.students] == [4, 5, 6, 7, 8]
    jo = roster.students[0]
    assert jo.row["Section"] == "CS 101, Section 2 (Fall)" and jo.row["Student"] == "Smith, Jo"
    assert roster.students[3].name == "Ñúñez, Zoë"
    assert roster.find("JO-SMITH") is jo


def test_extensions_are_extra_time_or_a_deadline_with_its_offset(tmp_path):
    students = canvas_roster(tmp_path).students
    assert students[0].extension == timedelta(days=2)
    assert students[1].extension is None
    assert students[2].extension == datetime(2026, 10, 5, 23, 59, tzinfo=timezone(timedelta(hours=2)))
    assert students[3].extension == timedelta(hours=36)


@pytest.mark.parametrize(
    "value, said",
    [("two days", "neither extra time nor a deadline"), ("2w", "neither"), ("2026-10-05T23:59", "no UTC offset")],
)
def test_a_bad_extension_names_its_row_and_what_to_write(tmp_path, value, said):
    path = roster_file(tmp_path, f"Student,github,extension\nAna,ana,\nBo,bo,{value}\n")
    with pytest.raises(GraderError) as error:
        Roster.read(path)
    assert "row 3" in str(error.value) and said in str(error.value) and "`2d` or `36h`" in str(error.value)


def test_moodle_exports_say_which_column_identifies_a_student(tmp_path):
    grades = Roster.read(roster_file(tmp_path, MOODLE_GRADES_EXPORT))
    assert grades.moodle_identifier() == "Email address"  # ID number is not filled for everyone
    assert grades.students[1].name == "Zoë Ñúñez"
    participants = Roster.read(roster_file(tmp_path, MOODLE_PARTICIPANTS_EXPORT, "participants.csv"))
    assert participants.moodle_identifier() == "Username"
    with pytest.raises(GraderError, match="Moodle's grades or participants export"):
        canvas_roster(tmp_path).moodle_identifier()


@pytest.mark.parametrize(
    "text, said",
    [
        ("Student,Email\nAna,ana@example.edu\n", "no `github` column"),
        ("Student,github\nAna,ana\nBo,ANA\n", "rows 2 and 3 both have the GitHub login ANA"),
        ("Student,github\nAna,https://github.com/ana\n", "row 2: 'https://github.com/ana' is not a GitHub login"),
        ("", "is empty"),
    ],
)
def test_a_roster_that_cannot_be_used_says_what_to_fix(tmp_path, text, said):
    with pytest.raises(GraderError, match=said.replace("(", r"\(")):
        Roster.read(roster_file(tmp_path, text))


def test_a_roster_in_another_encoding_or_absent_says_so(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("Student,github\nZoë,zoe\n".encode("latin-1"))
    with pytest.raises(GraderError, match="not UTF-8"):
        Roster.read(path)
    with pytest.raises(GraderError, match="does not exist"):
        Roster.read(tmp_path / "nowhere.csv")


def repos(*names: str) -> list:
    return [Path("/class") / name for name in names]


def test_a_repository_belongs_to_the_longest_login_it_ends_with_whatever_the_case(tmp_path):
    roster = canvas_roster(tmp_path)
    found = match(
        repos(
            "ingest-lab-jo-smith", "ingest-lab-JO-BROWN", "ingest-lab-smith", "ingest-lab-nobody", "ingest-lab-znunez"
        ),
        roster,
    )
    assert found.by_login == {
        "jo-smith": repos("ingest-lab-jo-smith"),  # never smith's, though it ends with "-smith" too
        "Jo-Brown": repos("ingest-lab-JO-BROWN"),  # the roster's spelling
        "smith": repos("ingest-lab-smith"),
        "ZNunez": repos("ingest-lab-znunez"),
    }
    assert found.unknown == repos("ingest-lab-nobody")
    assert [s.login for s in found.missing] == [""]  # the Test Student has no login, so no repository
    assert found.duplicates == {}


def test_two_repositories_for_one_login_are_both_reported_and_a_student_without_one_is_missing(tmp_path):
    roster = canvas_roster(tmp_path)
    found = match(repos("ingest-lab-jo-smith", "JO-SMITH", "ingest-lab-smith"), roster)
    assert found.duplicates == {"jo-smith": repos("JO-SMITH", "ingest-lab-jo-smith")}
    assert [s.login for s in found.missing] == ["Jo-Brown", "ZNunez", ""]


def test_with_an_assignment_a_repository_must_be_named_for_it(tmp_path):
    roster = canvas_roster(tmp_path)
    found = match(repos("ingest-lab-jo-smith", "other-lab-smith", "ingest-lab-x-smith"), roster, "ingest-lab")
    assert found.by_login == {"jo-smith": repos("ingest-lab-jo-smith")}
    assert found.unknown == repos("ingest-lab-x-smith", "other-lab-smith")


def test_without_a_roster_the_login_follows_the_prefix_or_is_the_whole_name():
    named = match(repos("ingest-lab-jo-smith", "Ingest-Lab-ana", "notes", "ingest-lab-"), None, "ingest-lab-")
    assert named.by_login == {"jo-smith": repos("ingest-lab-jo-smith"), "ana": repos("Ingest-Lab-ana")}
    assert named.unknown == repos("ingest-lab-", "notes") and named.missing == []
    # Shared prefixes are never taken off by guessing: two logins starting alike stay whole.
    whole = match(repos("lab-ann", "lab-anna"))
    assert whole.by_login == {"lab-ann": repos("lab-ann"), "lab-anna": repos("lab-anna")}


def make_repository(path: Path) -> Path:
    (path / ".git").mkdir(parents=True)
    (path / "notebooks").mkdir()
    (path / "notebooks" / "01-ingest-api.ipynb").write_text("{}")
    return path


def test_one_students_repository_as_submissions_is_one_student_not_its_notebooks(tmp_path):
    repo = make_repository(tmp_path / "ingest-lab-jo-smith")
    assert is_repository(repo) and not is_repository(repo / "notebooks")
    assert repositories(repo) == [repo]
    found = match(repositories(repo), canvas_roster(tmp_path), "ingest-lab")
    assert found.by_login == {"jo-smith": [repo]}


def test_a_class_folder_gives_its_repositories_and_never_a_linked_one(tmp_path):
    folder = tmp_path / "class"
    first = make_repository(folder / "ingest-lab-ana")
    second = make_repository(folder / "ingest-lab-bo")
    (folder / "not-a-repository").mkdir()
    (folder / "linked").symlink_to(first)
    assert repositories(folder) == [first, second]
    assert repositories(tmp_path / "absent") == []


def test_statuses_are_spelled_once():
    assert [str(status) for status in Status] == ["graded", "late", "missing", "not graded", "unknown"]
