"""The LMS import files, cell by cell: Canvas's gradebook CSV and Moodle's CSV grade import."""

import csv
import io

import pytest

from clickkit.errors import GraderError
from clickkit.grading.lms import write_canvas, write_moodle
from clickkit.grading.roster import Roster

CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Ingest Lab (48213),Current Score,github\r\n"
    "    Points Possible,,,,,10.00,(read only),\r\n"
    '"Smith, Jo",1001,S-1001,jsmith,"CS 101, Section 2 (Fall)",,80,jo-smith\r\n'
    '"Ñúñez, Zoë",1004,S-1004,znunez,"CS 101, Section 1",,60,ZNunez\r\n'
    '"=HYPERLINK(""http://evil.example"")",1005,S-1005,+evil,@Section,,,mallory\r\n'
    '"Brown, Jo",1002,S-1002,jbrown,"CS 101, Section 2 (Fall)",,75,jo-brown\r\n'
)
MOODLE_EXPORT = (
    "First name,Last name,ID number,Institution,Department,Email address,github\n"
    "Jo,Smith,,Uni,CS,jo.smith@example.edu,jo-smith\n"
    "Zoë,Ñúñez,20261004,Uni,CS,zoe.nunez@example.edu,znunez\n"
    "Mal,Lory,,Uni,CS,-mal@example.edu,mallory\n"
    "Jo,Brown,,Uni,CS,jo.brown@example.edu,jo-brown\n"
)
# jo-smith graded, ZNunez graded (any case), mallory not graded, jo-brown missing (no key).
GRADES = {"jo-smith": 7.5, "znunez": 10.0, "mallory": None}
FEEDBACK = {
    "jo-smith": "You lost the check “Sends each click to Kafka”: call producer.send in the endpoint.",
    "ZNUNEZ": "Every check passed. Bravo, Zoë!",
    "mallory": "=1+1 The grader failed on your notebook: your instructor will grade it again.",
}


def roster(tmp_path, text):
    path = tmp_path / "roster.csv"
    path.write_bytes(text.encode("utf-8"))
    return Roster.read(path)


def cells(path, encoding):
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


@pytest.mark.parametrize("missing, missing_cell", [("zero", "0"), ("empty", "")])
def test_canvas_csv_has_the_identity_columns_a_points_row_and_one_row_a_student(tmp_path, missing, missing_cell):
    out = tmp_path / "out" / "canvas.csv"
    write_canvas(out, roster(tmp_path, CANVAS_EXPORT), GRADES, "Ingest Lab (48213)", 10, missing)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as Canvas's own export
    assert cells(out, "utf-8-sig") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Ingest Lab (48213)"],
        ["    Points Possible", "", "", "", "", "10"],
        ["Smith, Jo", "1001", "S-1001", "jsmith", "CS 101, Section 2 (Fall)", "7.5"],
        ["Ñúñez, Zoë", "1004", "S-1004", "znunez", "CS 101, Section 1", "10"],
        ['\'=HYPERLINK("http://evil.example")', "1005", "S-1005", "'+evil", "'@Section", ""],
        ["Brown, Jo", "1002", "S-1002", "jbrown", "CS 101, Section 2 (Fall)", missing_cell],
    ]
    text = out.read_bytes().decode("utf-8-sig")
    assert '"Smith, Jo",1001,S-1001,jsmith,"CS 101, Section 2 (Fall)",7.5\r\n' in text  # a number stays a number


def test_canvas_csv_fills_what_a_canvas_roster_has_and_refuses_a_roster_that_is_not_canvass(tmp_path):
    teaching_assistant = "Student,ID,SIS Login ID,Section,github\nAna,1,ana1,A,ana\n"  # no SIS User ID column
    out = tmp_path / "canvas.csv"
    write_canvas(out, roster(tmp_path, teaching_assistant), {"ana": 3}, "=Lab", 5)
    assert cells(out, "utf-8-sig")[0][-1] == "'=Lab"  # the instructor's column name is neutralised too
    assert cells(out, "utf-8-sig")[2] == ["Ana", "1", "", "ana1", "A", "3"]
    with pytest.raises(GraderError, match="canvas.csv needs a Canvas roster"):
        write_canvas(out, roster(tmp_path, MOODLE_EXPORT), GRADES, "Lab", 10)


@pytest.mark.parametrize("missing, missing_cell", [("zero", "0"), ("empty", "")])
def test_moodle_csv_has_the_identifier_the_grade_and_the_feedback(tmp_path, missing, missing_cell):
    out = tmp_path / "moodle.csv"
    write_moodle(out, roster(tmp_path, MOODLE_EXPORT), GRADES, FEEDBACK, "Ingest lab", missing)
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert cells(out, "utf-8") == [
        ["Email address", "Ingest lab", "Ingest lab feedback"],
        ["jo.smith@example.edu", "7.5", FEEDBACK["jo-smith"]],
        ["zoe.nunez@example.edu", "10", "Every check passed. Bravo, Zoë!"],
        ["'-mal@example.edu", "", "'" + FEEDBACK["mallory"]],
        ["jo.brown@example.edu", missing_cell, ""],
    ]


def test_moodle_csv_refuses_a_roster_that_cannot_name_students_to_moodle(tmp_path):
    with pytest.raises(GraderError, match="moodle.csv needs a column"):
        write_moodle(tmp_path / "moodle.csv", roster(tmp_path, CANVAS_EXPORT), GRADES, FEEDBACK, "Lab")


def test_an_unknown_missing_policy_says_the_two_there_are(tmp_path):
    with pytest.raises(GraderError, match="MISSING=zero or MISSING=empty"):
        write_canvas(tmp_path / "canvas.csv", roster(tmp_path, CANVAS_EXPORT), GRADES, "Lab", 10, "nothing")
