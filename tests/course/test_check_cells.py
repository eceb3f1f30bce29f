"""Check cells are restored by cell id, or by their title: edited, moved, deleted or forged ones alike."""

import nbformat

from clickkit.course.check_cells import restore_checks


def cell(kind, source, cell_id, tags=()):
    """Return a cell with this id and tags."""
    new = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    new.id = cell_id
    if tags:
        new.metadata["tags"] = list(tags)
    return new


def reference():
    """Return a small course notebook: two tasks, each followed by its check."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [cell("markdown", "# Task 1", "md1"), cell("code", "def one(): ...", "task1"),
                      cell("code", 'with check("one() works"):\n    assert one() == 1', "check1", ["check"]),
                      cell("markdown", "# Task 2", "md2"), cell("code", "def two(): ...", "task2"),
                      cell("code", 'with check("two() works"):\n    assert two() == 2', "check2", ["check"])]
    return notebook


def sources(notebook):
    return [c.source for c in notebook.cells]


def test_an_edited_check_gets_its_source_and_tags_back():
    student = reference()
    student.cells[2].source = 'with check("one() works"):\n    pass'
    student.cells[2].metadata["tags"] = []
    assert restore_checks(student, reference()) == []
    assert sources(student) == sources(reference()) and student.cells[2].metadata["tags"] == ["check"]


def test_a_deleted_check_is_put_back_after_the_cell_before_it_and_the_others_stay_in_place():
    student = reference()
    del student.cells[2]
    student.cells[-1].source = "print('forged')"
    notes = restore_checks(student, reference())
    assert sources(student) == sources(reference())
    assert notes == ['put back the deleted check "one() works"']


def test_a_copied_check_with_a_new_id_is_found_by_its_title():
    student = reference()
    student.cells[5].id = "pasted"
    student.cells[5].source = 'with check("two() works"):\n    assert True'
    assert restore_checks(student, reference()) == []
    assert sources(student) == sources(reference())


def test_a_moved_check_stays_where_the_student_put_it_with_the_course_source():
    student = reference()
    moved = student.cells.pop(2)
    moved.source = "assert True"
    student.cells.insert(0, moved)
    restore_checks(student, reference())
    assert student.cells[0].id == "check1" and student.cells[0].source == reference().cells[2].source
    assert len(student.cells) == len(reference().cells)


def test_a_forged_cell_tagged_check_is_dropped():
    student = reference()
    student.cells.append(cell("code", 'print("✓ everything works")', "forged", ["check"]))
    notes = restore_checks(student, reference())
    assert sources(student) == sources(reference())
    assert notes == ["dropped a cell tagged 'check' that is not one of the course's checks: "
                     "'print(\"✓ everything works\")'"]
