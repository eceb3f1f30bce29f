"""Grade students' ingest notebooks: each one sandboxed under nbval, its endpoint tested check by check.

    python -m clickkit.grading SUBMISSIONS [--jobs N] [--out FOLDER]    # a notebook or a folder of them
    python -m clickkit.grading --visible NOTEBOOK                        # a student's own run of the checks
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat

from clickkit.grading import gradebook
from clickkit.grading import rubric
from clickkit.grading import sandbox
from clickkit.errors import KitError
from clickkit.config import REPO_ROOT, load_settings
from clickkit.broker.cli import ensure_kafka
from clickkit.errors import GraderError
from clickkit.ports import free_port

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
CHECK_TAG = "check"
SANDBOX_LINE = "Sandboxed as uid "  # the first line of each submission's log, when sandboxed
# Run before the student's first cell: a blocking app.run() serves in the background on the grader's port,
# and every app the notebook serves is remembered, so that it can be served again after the notebook stops it.
SETUP_CODE = """
import os as _grader_os
import flask as _grader_flask
from clickkit.course.notebook_server import BackgroundServer as _GraderServer

_grader_served, _grader_start = [], _GraderServer.start

def _grader_remember(self):
    _grader_served.append(self.app)
    return _grader_start(self)

def _grader_run(self, *args, **kwargs):
    _GraderServer(self, port=int(_grader_os.environ["INGEST_PORT"])).start()

_GraderServer.start = _grader_remember
_grader_flask.Flask.run = _grader_run
"""



@dataclass(frozen=True)
class Limits:
    """The time and output limits of one submission."""

    cell_s: float = 30.0
    notebook_s: float = 180.0
    output_chars: int = 100_000


def prepare(path: Path, folder: Path) -> Path:
    """Write the private copy to grade: the grader's setup cell first, the check cells restored from the solution."""
    notebook = nbformat.read(path, as_version=4)  # raises on a file that is not a notebook
    checks = [cell.source for cell in nbformat.read(SOLUTION, as_version=4).cells
              if CHECK_TAG in cell.metadata.get("tags", [])]
    theirs = [cell for cell in notebook.cells if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])]
    for cell, source in zip(theirs, checks):
        cell.source = source  # editing a check changes nothing
    notebook.cells.insert(0, nbformat.v4.new_code_cell(SETUP_CODE))
    copy = folder / "submission.ipynb"
    nbformat.write(notebook, copy)
    return copy


def pytest_command(copy: Path, work: Path, junit: Path, limits: Limits, sandboxed: bool, extra=()) -> list:
    """Return the pytest command that runs the copy under nbval and then the rubric."""
    kernel = ["--nbval-kernel-name", sandbox.KERNEL_NAME] if sandboxed else ["--nbval-current-env"]
    return [sys.executable, "-m", "pytest", str(copy), "-p", "clickkit.grading.plugin", "-p", "no:cacheprovider",
            "--nbval", "--nbval-lax", *kernel, f"--nbval-cell-timeout={limits.cell_s:g}",
            f"--grade-notebook-timeout={limits.notebook_s:g}", f"--grade-output-cap={limits.output_chars}",
            f"--grade-results={work / 'results.json'}", f"--junitxml={junit}", "--rootdir", str(work),
            "-c", str(work / "pytest.ini"), "-q", "-W", "ignore::DeprecationWarning", *extra]


def grade_one(path: Path, name: str, out: Path, settings, limits: Limits, spec_root: Path | None) -> gradebook.Result:
    """Grade one notebook in a private folder and sandbox; raise GraderError when the grader itself fails."""
    work = Path(tempfile.mkdtemp(prefix="clickkit-grade-"))
    folder = work / "submission"
    folder.mkdir()
    try:
        try:
            copy = prepare(path, folder)
        except Exception as error:  # not JSON, not a notebook: the student's file, not the grader
            return gradebook.Result(name, remark=f"The grader could not read this notebook: {error}"[:300])
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        port = free_port()
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers, CLICKS_TOPIC=settings.topic,
                   INGEST_PORT=str(port), INGEST_URL=f"http://127.0.0.1:{port}/clicks", MPLBACKEND="Agg")
        if spec_root is not None:
            uid = 100_000 + port  # a user of its own: process limits then count this kernel alone
            sandbox.prepare_folder(folder, uid)
            env.update({"JUPYTER_PATH": str(spec_root), sandbox.FOLDER_VARIABLE: str(folder),
                        sandbox.UID_VARIABLE: str(uid)})
        junit = out / "junit" / (name.replace("/", "__").removesuffix(".ipynb") + ".xml")
        junit.parent.mkdir(parents=True, exist_ok=True)
        log = out / "logs" / junit.with_suffix(".log").name
        log.parent.mkdir(parents=True, exist_ok=True)
        command = pytest_command(copy, work, junit, limits, spec_root is not None)
        budget = limits.notebook_s + limits.cell_s + 240  # the cells, one more hung cell, start-up and the probes
        with open(log, "w", encoding="utf-8") as output:
            if spec_root is not None:
                output.write(f"{SANDBOX_LINE}{uid} (its processes: ps -u {uid})\n")
                output.flush()
            try:
                subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=budget, cwd=work)
            except subprocess.TimeoutExpired:
                return gradebook.Result(name, remark=f"Grading this notebook took over {budget:.0f} s and was stopped.")
        return read_results(work / "results.json", name, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_results(path: Path, name: str, log: Path) -> gradebook.Result:
    """Return the verdicts the plugin wrote, or raise GraderError when it could not judge."""
    import json

    if not path.exists():
        raise GraderError(f"{name}: pytest ended without results; its log is {log}")
    results = json.loads(path.read_text(encoding="utf-8"))
    if results["grader_error"] or not results["verdicts"]:
        raise GraderError(f"{name}: {results['grader_error'] or 'no check was judged'} (log: {log})")
    return gradebook.Result(name, results["verdicts"])


def check_visible(path: Path, limits: Limits) -> int:
    """Run a student's notebook with the checks they saw (restored from the solution); print each one's result."""
    settings = load_settings()
    ensure_kafka(settings)
    work = Path(tempfile.mkdtemp(prefix="clickkit-check-"))
    try:
        copy = prepare(path, work)
        (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        port = free_port()
        env = dict(os.environ, INGEST_PORT=str(port), INGEST_URL=f"http://127.0.0.1:{port}/clicks", MPLBACKEND="Agg")
        command = pytest_command(copy, work, work / "junit.xml", limits, False, ["--grade-visible"])
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limits.notebook_s + 120,
                                  cwd=work)
        lines = finished.stdout.split("The notebook's checks:", 1)[-1].strip().splitlines()
        print("\n".join(line for line in lines if not re.match(r"=|\d+ (passed|failed)", line)))
        return 0 if all(line.startswith("✓") for line in lines if line[:1] in "✓✗") else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_submissions(path: Path) -> list:
    """Return the notebooks to grade: the file itself, or every notebook under the folder."""
    if path.is_file():
        return [path]

    def skip(notebook: Path) -> bool:
        """Skip hidden folders (checkpoints) and the output folders of earlier grading runs."""
        inside = notebook.relative_to(path).parents
        return any(part.startswith(".") for part in notebook.relative_to(path).parts) or any(
            (path / folder / "gradebook.csv").exists() for folder in inside)
    return sorted(p for p in path.rglob("*.ipynb") if not skip(p))


def kernel_spec_root(out: Path) -> Path | None:
    """Return the folder of the sandboxed kernel's spec, or None (and a loud warning) without bubblewrap."""
    if sandbox.bwrap() is None:
        print(sandbox.NOT_ISOLATED, file=sys.stderr, flush=True)
        return None
    return sandbox.write_kernel_spec(out / ".kernel")


def grade_class(paths: list, base: Path, out: Path, jobs: int, limits: Limits) -> tuple:
    """Grade every notebook, `jobs` at a time; return the results and the sandbox warning ('' when isolated)."""
    settings = load_settings()
    ensure_kafka(settings)
    spec_root = kernel_spec_root(out)

    def one(path):
        name = str(path.relative_to(base)) if base.is_dir() else path.name
        began = time.monotonic()
        result = grade_one(path, name, out, settings, limits, spec_root)
        print(f"{name}: {result.points}/{rubric.MAX_POINTS} ({time.monotonic() - began:.0f} s)", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, paths))
    return results, "" if spec_root else f"**{sandbox.NOT_ISOLATED}**"


def main(argv=None) -> int:
    """Grade a notebook or a folder of notebooks and write the gradebook."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="a notebook, or a folder searched for notebooks")
    parser.add_argument("--visible", action="store_true", help="run one notebook's own checks only (make check)")
    parser.add_argument("--out", type=Path, help="folder for the gradebook (default: gradebook-<time>)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--cell-timeout", type=float, default=Limits.cell_s, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=float, default=Limits.notebook_s, help="seconds per notebook")
    args = parser.parse_args(argv)
    paths = find_submissions(args.submissions) if args.submissions.exists() else []
    limits = Limits(cell_s=args.cell_timeout, notebook_s=args.notebook_timeout)
    if args.visible and len(paths) == 1:
        return check_visible(paths[0], limits)
    if not paths:
        print(f"error: no notebook found at {args.submissions}. Give a .ipynb file or a folder of them.",
              file=sys.stderr)
        return 2
    out = (args.out or Path(f"gradebook-{datetime.now():%Y%m%d-%H%M%S}")).resolve()
    try:
        results, warning = grade_class(paths, args.submissions, out, args.jobs, limits)
    except KitError as error:
        print(f"GRADER ERROR, no grades written: {error}", file=sys.stderr)
        return 1
    gradebook.write_all(results, out, warning)
    print(f"\n{len(results)} notebooks graded; pass rate per check in {out / 'gradebook.md'}")
    print(f"Gradebook written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
