"""Find each lab's notebook in a student's repository, at any path, by the cell ids the course gave its cells.

Every exercise keeps its solution's cell ids (clickkit.course.exercises), and JupyterLab keeps them when a
notebook is renamed, moved or saved: the ids say which lab a notebook is, whatever the student called it.
"""

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from clickkit.course.check_cells import is_check
from clickkit.course.exercises import EXERCISES_DIR, SOLUTIONS_DIR, exercise_path
from clickkit.errors import SubmissionRefused
from clickkit.grading.history import MAX_BLOB_BYTES, read_blob, tree_entries
from clickkit.grading.submissions import notebooks_under, read_submission

# The "half its checks" rule: a notebook is a lab's if it holds at least half of the lab's check cells, by id.
MIN_CHECK_SHARE = 0.5
MAX_NOTEBOOKS = 200  # read per repository, the canonical paths first


@dataclass(frozen=True)
class Lab:
    """One lab of the course: its number, where the kit puts its notebook, and its solution's cell ids."""

    number: str  # "01"
    canonical: str  # "notebooks/01-ingest-api.ipynb"
    code_ids: frozenset
    check_ids: frozenset

    def owns(self, ids: frozenset) -> bool:
        """Tell whether a notebook with these code-cell ids is this lab's (the "half its checks" rule)."""
        wanted = self.check_ids or self.code_ids
        return len(ids & wanted) >= max(1, math.ceil(MIN_CHECK_SHARE * len(wanted)))


@dataclass(frozen=True)
class Found:
    """Where a repository holds a lab's notebook (None: missing), and the sentence for the gradebook."""

    lab: Lab
    path: str | None
    note: str = ""  # "" when the notebook is at its canonical path and no other notebook has its cells


@functools.cache
def course_labs(solutions_dir: Path = SOLUTIONS_DIR) -> dict:
    """Return {"01": Lab} for every solution notebook of the course, the list `make exercises` works from."""
    labs = {}
    for path in sorted(solutions_dir.glob("*.ipynb")):
        code = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
        canonical = exercise_path(path, Path(EXERCISES_DIR.name)).as_posix()
        labs[path.name[:2]] = Lab(
            path.name[:2],
            canonical,
            frozenset(cell.get("id") for cell in code if cell.get("id")),
            frozenset(cell.get("id") for cell in code if cell.get("id") and is_check(cell)),
        )
    return labs


def code_cell_ids(data: bytes) -> frozenset | None:
    """Return the ids of a notebook's code cells, or None if the bytes are no notebook (never an error)."""
    try:
        notebook = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not text, or nested deep enough to overflow the parser
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    return frozenset(
        cell["id"]
        for cell in cells
        if isinstance(cell, dict) and cell.get("cell_type") == "code" and isinstance(cell.get("id"), str)
    )


def is_candidate(path: str) -> bool:
    """Tell whether a path may be a lab's notebook: an .ipynb outside hidden folders (.ipynb_checkpoints)."""
    parts = PurePosixPath(path).parts
    return path.lower().endswith(".ipynb") and not any(part.startswith(".") for part in parts)


def commit_notebooks(repo: Path, commit: str, labs: dict) -> tuple:
    """Return ({path: code-cell ids} of the commit's notebooks, [why each refused one was not read])."""
    canonical = {lab.canonical for lab in labs.values()}
    paths = sorted(
        (entry.path for entry in tree_entries(repo, commit) if is_candidate(entry.path)),
        key=lambda path: (path not in canonical, path),
    )
    found, refused = {}, []
    for path in paths[:MAX_NOTEBOOKS]:
        try:
            ids = code_cell_ids(read_blob(repo, commit, path, MAX_BLOB_BYTES))
        except SubmissionRefused as error:  # a link, a submodule, a file too large: noted, never read
            refused.append(str(error))
            continue
        if ids is not None:
            found[path] = ids
    if len(paths) > MAX_NOTEBOOKS:
        refused.append(f"{len(paths) - MAX_NOTEBOOKS} more notebooks were not read (the limit is {MAX_NOTEBOOKS})")
    return found, refused


def folder_notebooks(folder: Path) -> tuple:
    """Return ({path: code-cell ids} of a working folder's notebooks, [why each refused one was not read])."""
    found, refused = {}, []
    for relative in notebooks_under(folder)[:MAX_NOTEBOOKS]:
        try:
            ids = code_cell_ids(read_submission(folder, relative))
        except SubmissionRefused as error:
            refused.append(str(error))
            continue
        if ids is not None:
            found[relative.as_posix()] = ids
    return found, refused


def match_labs(notebooks: dict, refused: list, labs: dict) -> dict:
    """Return {"01": Found} for every lab: the notebook with most of its code-cell ids, the canonical path on a tie."""
    matched = {}
    for number, lab in labs.items():
        owners = sorted(
            (path for path, ids in notebooks.items() if lab.owns(ids)),
            key=lambda path: (-len(notebooks[path] & lab.code_ids), path != lab.canonical, path),
        )
        if not owners:
            unread = f"; not read: {'; '.join(refused)}" if refused else ""
            note = (
                f"missing: no notebook of lab {number} in this repository (looked for {lab.canonical} "
                f"and for any .ipynb with its cells){unread}"
            )
            matched[number] = Found(lab, None, note)
            continue
        best, others = owners[0], owners[1:]
        notes = [f"found at {best} instead of {lab.canonical}"] if best != lab.canonical else []
        if others:  # e.g. a copy left next to the moved notebook: the instructor may want to look
            notes.append(f"{', '.join(others)} {'has' if len(others) == 1 else 'have'} its cells too (not graded)")
        matched[number] = Found(lab, best, "; ".join(notes))
    return matched


def find_labs(repo: Path, commit: str, labs: dict | None = None) -> dict:
    """Return {"01": Found} for the notebooks of a commit of the student's repository."""
    labs = course_labs() if labs is None else labs
    return match_labs(*commit_notebooks(repo, commit, labs), labs)


def find_labs_in_folder(folder: Path, labs: dict | None = None) -> dict:
    """Return {"01": Found} for the notebooks of a working folder (links and other non-files refused)."""
    labs = course_labs() if labs is None else labs
    return match_labs(*folder_notebooks(folder), labs)
