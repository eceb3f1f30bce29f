"""Run a student's notebook top to bottom with the course's own check cells, and print each check's result.

python -m clickkit.course.selfcheck notebooks/01-ingest-api.ipynb      (make check NOTEBOOK=...)
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from clickkit.broker.cli import ensure_kafka
from clickkit.config import load_settings
from clickkit.course.check_cells import is_check, restore_checks, titles
from clickkit.errors import KitError
from clickkit.ports import free_port_pair

# The exercises as released: the release writes them here, so that a student's edits never change their checks.
ORIGINALS_DIR = Path(__file__).parent / "originals"
CELL_TIMEOUT_S = 120  # a backstop: every check bounds the student's code itself, in far less


def course_notebooks() -> dict:
    """Return {"NN": path} of the notebooks the checks come from: the released originals, else the solutions."""
    if ORIGINALS_DIR.is_dir():
        return {path.name[:2]: path for path in sorted(ORIGINALS_DIR.glob("*.ipynb"))}
    from clickkit.course.exercises import SOLUTIONS_DIR  # the instructor's kit: checks equal the exercises'

    return {path.name[:2]: path for path in sorted(SOLUTIONS_DIR.glob("*.ipynb"))}


def reference_for(path: Path):
    """Return the course notebook whose checks this student notebook gets, found by its number (NN-...)."""
    known = course_notebooks()
    source = known.get(path.name[:2])
    if source is None or path.name[2:3] != "-":
        names = ", ".join(path.name for path in known.values()) or "none found"
        raise KitError(
            f"{path.name} is not one of the course's notebooks ({names}): keep the number its name "
            "starts with, e.g. make check NOTEBOOK=notebooks/01-ingest-api.ipynb."
        )
    reference = nbformat.read(source, as_version=4)
    if source.parent != ORIGINALS_DIR:
        from clickkit.course.exercises import make_exercise

        reference = make_exercise(reference, source.name)
    return reference


def first_line(output) -> str:
    """Return what a cell's error says, in one line."""
    return f"{output['ename']}: {str(output['evalue']).strip().splitlines()[0] if output['evalue'] else ''}"


def cell_name(cell, position: int) -> str:
    """Name a cell as a student finds it in JupyterLab: its check's title, else its prompt number and first line."""
    named = titles(cell)
    if is_check(cell) and named:
        return "the check " + " / ".join(f'"{title}"' for title in named)
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    shown = f"[{cell.execution_count}]" if cell.get("execution_count") else f"the {ordinal(position)} code cell"
    return f"{shown}, which starts with {first[:60]!r}" if first else shown


def ordinal(number: int) -> str:
    """Return 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st..."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def report(notebook) -> tuple:
    """Return the lines that tell the student each check's result, how many checks passed, and how many there are.

    A check is one requirement, one `with check("...")`: a check cell may hold several, and prints a ✓ line
    for each one that holds. A requirement that did not run (its cell failed before it) did not pass.
    """
    lines, passed, total = [], 0, 0
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for position, cell in enumerate(code_cells, start=1):
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        printed = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
        if is_check(cell):
            ticks = [line for line in printed.splitlines() if line.startswith("✓")]
            lines.extend(ticks)
            passed += len(ticks)
            total += max(len(titles(cell)), len(ticks) + (1 if errors or cell.get("execution_count") is None else 0))
            if errors:
                message = str(errors[0]["evalue"]).strip()
                if errors[0]["ename"] != "AssertionError":
                    message = f"✗ {cell_name(cell, position)}: {first_line(errors[0])}"
                lines.extend([message.splitlines()[0], *("    " + line for line in message.splitlines()[1:])])
            elif cell.get("execution_count") is None:
                lines.append(f"✗ {cell_name(cell, position)} did not run (a cell above it did not finish).")
        elif errors and "raises-exception" not in cell.metadata.get("tags", []):
            lines.append(f"! {cell_name(cell, position)} (not a check) raised {first_line(errors[0])}")
    return lines, passed, total


def run(path: Path, cell_timeout_s: float = CELL_TIMEOUT_S) -> int:
    """Run the notebook with its checks restored; print the results; return 0 when every check passed."""
    notebook = nbformat.read(path, as_version=4)
    for note in restore_checks(notebook, reference_for(path)):
        print(f"(make check {note})")
    settings = load_settings()
    ensure_kafka(settings)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["INGEST_PORT"] = str(free_port_pair())  # never the port of a notebook that is serving in the lab
    print(f"Running {path.name} from the top with its checks (each cell at most {cell_timeout_s:g} s)...", flush=True)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout_s,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    try:
        client.execute(stderr=subprocess.DEVNULL)  # the kernel's own start-up warnings; a death is reported below
    except (CellTimeoutError, DeadKernelError) as error:
        print(f"! the notebook stopped: {str(error).splitlines()[0]}")
    lines, passed, total = report(notebook)
    print("\n".join(lines))
    print(f"\n{passed} of {total} checks passed in {path.name}." + (" Well done." if passed == total else ""))
    return 0 if passed == total else 1


def main(argv=None) -> int:
    """Run one notebook's checks."""
    parser = argparse.ArgumentParser(
        prog="make check NOTEBOOK=", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebook", type=Path, help="a notebook of the course, e.g. notebooks/00-intro.ipynb")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT_S, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        print(
            f"error: {args.notebook} was not found. Give the path of one of your notebooks, "
            "e.g. make check NOTEBOOK=notebooks/00-intro.ipynb",
            file=sys.stderr,
        )
        return 2
    try:
        return run(args.notebook, args.cell_timeout)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
