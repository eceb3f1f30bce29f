"""Put a notebook's check cells back as the course wrote them, matched by cell id, else by the check's title."""

import re

import nbformat

CHECK_TAG = "check"
TITLE = re.compile(r"""with check\(\s*(?:f?)(["'])(.+?)\1""")


def is_check(cell) -> bool:
    """Tell whether a cell is one of the course's check cells."""
    return cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])


def titles(cell) -> tuple:
    """Return the requirements a check cell names in its `with check("...")` lines."""
    return tuple(match[1] for match in TITLE.findall(cell.source))


def restore_checks(notebook, reference) -> list:
    """Restore every check cell of `reference` in `notebook`, in place; return a note per cell put back or dropped.

    A check is found by its cell id, or else by its titles (a cell copied in JupyterLab gets a new id).
    Its source and tags become the reference's, wherever the student moved it. A check the student
    deleted is put back after the cell that precedes it in the reference. A cell tagged `check` that
    matches no reference check is dropped: only the course's checks speak for the course.
    """
    notes, used = [], set()
    by_id = {cell.get("id"): cell for cell in notebook.cells if cell.get("id")}
    for position, wanted in enumerate(reference.cells):
        if not is_check(wanted):
            continue
        theirs = by_id.get(wanted.get("id")) if wanted.get("id") else None
        if theirs is None or id(theirs) in used or theirs.cell_type != "code":
            theirs = next((cell for cell in notebook.cells if id(cell) not in used and cell.cell_type == "code"
                           and titles(cell) and titles(cell) == titles(wanted)), None)
        if theirs is None:
            theirs = nbformat.v4.new_code_cell(wanted.source)
            notebook.cells.insert(insertion_index(notebook, reference, position, used), theirs)
            notes.append(f"put back the deleted check {describe(wanted)}")
        theirs.source, theirs.metadata["tags"] = wanted.source, list(wanted.metadata.get("tags", []))
        theirs.outputs, theirs.execution_count = [], None
        used.add(id(theirs))
    strays = [cell for cell in notebook.cells if is_check(cell) and id(cell) not in used]
    for cell in strays:
        notebook.cells.remove(cell)
        notes.append(f"dropped a cell tagged '{CHECK_TAG}' that is not one of the course's checks: {describe(cell)}")
    return notes


def insertion_index(notebook, reference, position: int, used: set) -> int:
    """Return where a deleted check goes: after the student's copy of the nearest reference cell above it."""
    ids = [cell.get("id") for cell in notebook.cells]
    for earlier in reversed(reference.cells[:position]):
        if earlier.get("id") in ids and earlier.get("id"):
            index = ids.index(earlier.get("id"))
            while index + 1 < len(notebook.cells) and id(notebook.cells[index + 1]) in used:
                index += 1  # after the checks already restored there, so that they keep their order
            return index + 1
    return len(notebook.cells)


def describe(cell) -> str:
    """Name a check cell by its titles, or by its first line."""
    named = titles(cell)
    return " / ".join(f'"{title}"' for title in named) if named else repr(cell.source.splitlines()[0][:60] if
                                                                          cell.source else "")
