"""The exercise generator: stubs, marker errors, and committed exercises in step with their solutions."""

import json
import socket

import nbformat
import pytest

from clickkit.course import exercises as exercises
from clickkit.course.exercises import BEGIN, CODE_STUB, END, MarkerError, make_exercise, strip_solution


def notebook(*cells):
    """Build a small solution notebook from (cell_type, source, tags) triples."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    for cell_type, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
        cell.metadata["tags"] = list(tags)
        if cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="printed\n")]
            cell.execution_count = 3
        nb.cells.append(cell)
    return nb


def code_of(path):
    """Return the code of all of a notebook's code cells, as one text."""
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")


def test_committed_exercises_match_their_solutions():
    stale = exercises.stale_exercises()
    assert not stale, f"out of date: {[path.name for path in stale]}; run 'make exercises' and commit the result"


def test_every_solution_has_a_stub_in_its_exercise():
    for solution_path in sorted(exercises.SOLUTIONS_DIR.glob("*.ipynb")):
        solution = code_of(solution_path)
        exercise = code_of(exercises.exercise_path(solution_path))
        assert BEGIN in solution, f"{solution_path.name} marks no solution region"
        assert BEGIN not in exercise and END not in exercise
        assert exercise.count(CODE_STUB[0]) == solution.count(BEGIN)


def test_region_becomes_stub_with_its_indentation():
    source = f"def f(x):\n    y = x + 1\n    {BEGIN}\n    return y * 2\n    {END}\n\nprint(f)"
    stripped = strip_solution(source, CODE_STUB, "nb, cell 1")
    stubs = ("    " + line.replace("{task}", "f()") for line in CODE_STUB)
    assert stripped.splitlines() == ["def f(x):", "    y = x + 1", *stubs, "", "print(f)"]
    namespace = {}
    exec(stripped, namespace)  # the exercise still defines the function...
    with pytest.raises(NotImplementedError, match=r"f\(\) is not written yet"):  # ...which fails until written
        namespace["f"](1)


def test_a_stub_outside_any_function_marks_its_cell_as_raising():
    solution = notebook(("markdown", "# 09 · Demo (solution)", ()),
                        ("code", f"{BEGIN}\nanswer = 42\n{END}", ()),
                        ("code", f"def g():\n    {BEGIN}\n    return 1\n    {END}", ()))
    top_level, inside_function = make_exercise(solution, "09-demo.ipynb").cells[1:]
    assert top_level.metadata["tags"] == ["raises-exception"]
    assert "This task is not written yet" in top_level.source
    assert "tags" not in inside_function.metadata


@pytest.mark.parametrize("source, complaint", [
    (f"{BEGIN}\nx = 1\n{BEGIN}\ny = 2\n{END}\n{END}", "inside another solution region"),
    (f"x = 0\n{BEGIN}\nx = 1", "never closed"),
    (f"x = 1\n{END}", "without a"),
])
def test_bad_markers_are_errors_that_name_file_and_cell(source, complaint):
    solution = notebook(("markdown", "# 09 · Demo (solution)", ()), ("code", source, ()))
    with pytest.raises(MarkerError, match=complaint) as raised:
        make_exercise(solution, "09-demo.ipynb")
    assert "09-demo.ipynb, cell 2" in str(raised.value)


def test_a_solution_cell_without_an_id_is_named():
    solution = notebook(("markdown", "# 09 · Demo (solution)", ()), ("code", "x = 1", ()))
    del solution.cells[1]["id"]
    with pytest.raises(MarkerError, match="09-demo.ipynb, cell 2 has no cell id"):
        make_exercise(solution, "09-demo.ipynb")


def test_exercise_has_no_outputs_the_solutions_ids_an_exercise_title_and_tolerated_checks():
    solution = notebook(
        ("markdown", "# 09 · Demo (solution)\n\nText.", ()),
        ("code", f"def f():\n    {BEGIN}\n    return 1\n    {END}", ("endpoint",)),
        ("code", "assert f() == 1", ("check",)),
    )
    exercise = make_exercise(solution, "09-demo.ipynb")
    nbformat.validate(exercise)
    first, endpoint, check = exercise.cells
    assert first.source == "# 09 · Demo (exercise)\n\nText."
    assert endpoint.metadata["tags"] == ["endpoint"]
    assert check.metadata["tags"] == ["check", "raises-exception"]
    assert [cell.id for cell in exercise.cells] == [cell.id for cell in solution.cells]
    code_cells = [cell for cell in exercise.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)


def test_check_reports_a_drifted_exercise_by_name(tmp_path, capsys, monkeypatch):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    notebooks.mkdir()
    nbformat.write(notebook(("markdown", "# 09 · Demo (solution)", ()),
                            ("code", f"{BEGIN}\nx = 1\n{END}", ())), solutions / "09-demo.ipynb")
    assert exercises.stale_exercises(solutions, notebooks) == [notebooks / "09-demo.ipynb"]  # missing
    exercises.write_exercises(solutions, notebooks)
    assert exercises.stale_exercises(solutions, notebooks) == []
    first_text = (notebooks / "09-demo.ipynb").read_text(encoding="utf-8")
    exercises.write_exercises(solutions, notebooks)
    assert (notebooks / "09-demo.ipynb").read_text(encoding="utf-8") == first_text  # regeneration is stable

    edited = json.loads(first_text)
    edited["cells"][1]["source"] = "x = 'the student version was edited by hand'"
    (notebooks / "09-demo.ipynb").write_text(json.dumps(edited), encoding="utf-8")
    monkeypatch.setattr(exercises, "SOLUTIONS_DIR", solutions)
    monkeypatch.setattr(exercises, "EXERCISES_DIR", notebooks)
    monkeypatch.setattr(exercises, "REPO_ROOT", tmp_path)
    assert exercises.main(["--check"]) == 1
    assert "notebooks/09-demo.ipynb is out of date" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted([*exercises.EXERCISES_DIR.glob("*.ipynb"), *exercises.SOLUTIONS_DIR.glob("*.ipynb")]),
                         ids=lambda path: f"{path.parent.name}/{path.name}")
def test_committed_outputs_hold_no_paths_or_host_names(path):
    outputs = json.dumps([cell.get("outputs", []) for cell in nbformat.read(path, as_version=4).cells])
    host = socket.gethostname()
    leaks = ["/home/", "/Users/", "/tmp/", "/root/", "/work/", "C:\\\\"] + ([host] if len(host) >= 6 else [])
    for leak in leaks:  # a short host name could match ordinary text by chance
        assert leak not in outputs, f"{path.name} has '{leak}' in a stored output: clear or sanitize it"
