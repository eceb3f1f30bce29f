"""The notebooks as lessons: framing at the top, a check after every task, key points, and docs that agree."""

import math
import re

import nbformat
import pytest

from clickkit.config import REPO_ROOT
from clickkit.course.exercises import BEGIN, CHECK_TAG, EXERCISES_DIR, SOLUTIONS_DIR

SOLUTIONS = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
TIME = re.compile(r"\*\*Time:\*\* (\d+) min reading · (\d+) min tasks")


def lesson(path):
    """Return the notebook, its minutes of reading and of tasks, and its task cells."""
    notebook = nbformat.read(path, as_version=4)
    minutes = TIME.search(notebook.cells[0].source)
    assert minutes, f"{path.name}: the first cell must say '**Time:** N min reading · M min tasks'"
    tasks = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code" and BEGIN in cell.source]
    return notebook, int(minutes[1]), int(minutes[2]), tasks


def test_every_exercise_has_a_solution_of_the_same_name():
    assert sorted(path.name for path in EXERCISES_DIR.glob("*.ipynb")) == [path.name for path in SOLUTIONS]
    assert all(re.fullmatch(r"\d\d-[a-z-]+\.ipynb", path.name) for path in SOLUTIONS)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda path: path.name)
def test_a_lesson_opens_with_questions_objectives_and_minutes_and_ends_with_key_points(path):
    notebook, _, _, _ = lesson(path)
    opening = notebook.cells[0].source
    for block in ("**Questions**", "**Objectives**"):
        assert block in opening, f"{path.name}: the first cell has no {block} block"
    closing = "\n".join(cell.source for cell in notebook.cells[-2:])
    assert "## Key points" in closing and "**Next:**" in closing, f"{path.name} must end with key points and a link on"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda path: path.name)
def test_every_task_is_followed_by_its_check_and_tasks_come_every_15_minutes(path):
    notebook, reading, _, tasks = lesson(path)
    assert len(tasks) >= max(1, math.ceil(reading / 15)), (
        f"{path.name}: {len(tasks)} tasks for {reading} min of reading"
    )
    for index, next_task in zip(tasks, tasks[1:] + [len(notebook.cells)]):
        checks = [
            cell
            for cell in notebook.cells[index + 1 : next_task]
            if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])
        ]
        assert checks, f"{path.name}, cell {index + 1}: a check cell (tag '{CHECK_TAG}') must follow the task"
        assert all(re.search(r"\bcheck\(", cell.source) for cell in checks), (
            f"{path.name}: checks use clickkit.course.checks.check"
        )


def test_docs_give_each_notebook_its_minutes_and_tasks():
    docs = (REPO_ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    for path in SOLUTIONS:
        _, reading, work, tasks = lesson(path)
        stem = path.stem
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{stem}`")), None)
        assert row, f"docs/notebooks.md has no table row for {stem}"
        assert f"{reading} + {work} min" in row, f"docs/notebooks.md: {stem} takes {reading} + {work} min, says {row}"
        assert f"{len(tasks)} tasks" in row or f"{len(tasks)} task " in row, (
            f"docs/notebooks.md: {stem} has {len(tasks)} tasks"
        )
