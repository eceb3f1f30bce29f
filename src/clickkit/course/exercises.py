"""Generate the student notebooks (notebooks/NAME.ipynb) from the solution notebooks (solutions/NAME.ipynb).

The contract's values go into their Markdown, and into the docs, through clickkit.course.markers.
"""

import argparse
import sys
from pathlib import Path

import nbformat

from clickkit.config import REPO_ROOT
from clickkit.course import markers
from clickkit.course.checks import CODE_STUB
from clickkit.errors import KitError, MarkerError

SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MARKDOWN_STUB = ["_Your answer here._"]
CHECK_TAG = "check"
# nbval and JupyterLab's "Run All" both carry on past an error in a cell with this tag.
EXPECTED_ERROR_TAG = "raises-exception"


def enclosing_function(lines: list[str], indent: str) -> str:
    """Return 'name()' of the function whose body holds a line at this indentation, or 'This task'."""
    for line in reversed(lines):
        stripped = line.lstrip()
        if len(line) - len(stripped) < len(indent) and stripped.startswith(("def ", "async def ")):
            return stripped.split("def ", 1)[1].split("(", 1)[0] + "()"
    return "This task"


def strip_solution(source: str, stub: list[str], where: str) -> str:
    """Replace every BEGIN/END SOLUTION region with the stub, indented like its BEGIN line."""
    kept, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise MarkerError(
                    f"{where}, line {number}: '{BEGIN}' inside another solution region. "
                    f"Close the first region with '{END}' before opening a new one."
                )
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            task = enclosing_function(kept, indent)
            kept.extend(indent + stub_line.replace("{task}", task) for stub_line in stub)
        elif marker == END:
            if not inside:
                raise MarkerError(
                    f"{where}, line {number}: '{END}' without a '{BEGIN}' above it. "
                    "Add the missing BEGIN line or remove this one."
                )
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise MarkerError(f"{where}: '{BEGIN}' is never closed. Add '{END}' after the solution code.")
    return "\n".join(kept)


def exercise_title(source: str) -> str:
    """Turn the notebook's '(solution)' heading into an '(exercise)' one."""
    first, _, rest = source.partition("\n")
    if "(solution)" in first:
        first = first.replace("(solution)", "(exercise)")
    elif "(exercise)" not in first:
        first += " (exercise)"
    return first + ("\n" + rest if rest else "")


def has_top_level_stub(source: str) -> bool:
    """Tell whether running the cell reaches a stub (one outside any function), so that it raises."""
    return any(line.startswith(BEGIN) for line in source.splitlines())


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Return the student version of a solution notebook: stubs, no outputs, the solution's cell ids."""
    exercise = nbformat.v4.new_notebook(
        metadata={"kernelspec": solution.metadata.get("kernelspec", {}), "language_info": {"name": "python"}}
    )
    exercise.nbformat_minor = 5  # cell ids: make check and the grader find a student's check cells by them
    for index, cell in enumerate(solution.cells):
        where = f"{name}, cell {index + 1}"
        if not cell.get("id"):
            raise MarkerError(
                f"{where} has no cell id: open the solution in JupyterLab and save it "
                "(nbformat 4.5 gives every cell one), then run 'make exercises' again."
            )
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "code":
            stub_runs = has_top_level_stub(cell.source)
            if (CHECK_TAG in tags or stub_runs) and EXPECTED_ERROR_TAG not in tags:
                tags.append(EXPECTED_ERROR_TAG)  # these cells fail until the student has written the code
            new = nbformat.v4.new_code_cell(strip_solution(cell.source, CODE_STUB, where))
        elif cell.cell_type == "markdown":
            source = markers.fill(strip_solution(cell.source, MARKDOWN_STUB, where), where)
            new = nbformat.v4.new_markdown_cell(exercise_title(source) if index == 0 else source)
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        if tags:
            new.metadata["tags"] = tags
        new["id"] = cell["id"]  # the same id in the solution, the exercise and the student's copy
        exercise.cells.append(new)
    return exercise


def render_exercise(solution_path: Path) -> str:
    """Return the exercise notebook's file text for one solution notebook."""
    solution = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(make_exercise(solution, solution_path.name)) + "\n"


def exercise_path(solution_path: Path, exercises_dir: Path | None = None) -> Path:
    """Return where the exercise for a solution notebook lives."""
    return (exercises_dir or EXERCISES_DIR) / solution_path.name


def stale_exercises(solutions_dir: Path | None = None, exercises_dir: Path | None = None) -> list[Path]:
    """Return the exercise notebooks that are missing or differ from what their solution generates."""
    stale = []
    for solution_path in sorted((solutions_dir or SOLUTIONS_DIR).glob("*.ipynb")):
        target = exercise_path(solution_path, exercises_dir)
        if not target.exists() or target.read_text(encoding="utf-8") != render_exercise(solution_path):
            stale.append(target)
    return stale


def write_exercises(solutions_dir: Path | None = None, exercises_dir: Path | None = None) -> list[Path]:
    """Regenerate every exercise notebook and return the paths written."""
    written = []
    for solution_path in sorted((solutions_dir or SOLUTIONS_DIR).glob("*.ipynb")):
        target = exercise_path(solution_path, exercises_dir)
        target.write_text(render_exercise(solution_path), encoding="utf-8")
        written.append(target)
    return written


def main(argv=None) -> int:
    """Regenerate the exercises, or with --check report the ones that drifted from their solutions."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.course.exercises", description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if an exercise is out of date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_exercises() + markers.stale_docs()
            for path in stale:
                print(
                    f"{path.relative_to(REPO_ROOT)} is out of date with its solution or the contract: "
                    "run 'make exercises' "
                    "and commit the result."
                )
            return 1 if stale else 0
        for path in write_exercises() + markers.write_docs():
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    except KitError as error:
        print(f"Cannot generate the exercises: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
