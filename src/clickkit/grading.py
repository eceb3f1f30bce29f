"""Grade students' ingest notebooks: run each one headless, probe its live endpoint, write a gradebook."""

import argparse
import csv
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from kafka.errors import KafkaError

from clickkit import rubric
from clickkit.broker import KitError
from clickkit.config import load_settings
from clickkit.lab import ensure_kafka
from clickkit.ports import free_port, port_is_open

# Run before the student's first cell: a blocking app.run() serves in the background on the grader's port,
# and every app the notebook serves is remembered, so it can be served again if the notebook stops it at the end.
SETUP_CODE = """
import os as _grader_os
import flask as _grader_flask
from clickkit.notebook_server import BackgroundServer as _GraderServer

_grader_served, _grader_start = [], _GraderServer.start

def _grader_remember(self):
    _grader_served.append(self.app)
    return _grader_start(self)

def _grader_run(self, *args, **kwargs):
    _GraderServer(self, port=int(_grader_os.environ["INGEST_PORT"])).start()

_GraderServer.start = _grader_remember
_grader_flask.Flask.run = _grader_run
"""

# Run after the student's last cell, only when nothing answers on the port: serve the notebook's app again.
SERVE_AGAIN_CODE = """
_grader_app = _grader_served[-1] if _grader_served else globals().get("app")
if isinstance(_grader_app, _grader_flask.Flask):
    _GraderServer(_grader_app, port=int(_grader_os.environ["INGEST_PORT"])).start()
    print("(grader) served again" if _grader_served else "(grader) never served")
"""


@dataclass(frozen=True)
class Limits:
    """The time and output limits of one submission."""

    cell_s: float = 30.0
    notebook_s: float = 180.0
    output_chars: int = 100_000
    probe_s: float = 60.0


@dataclass
class Run:
    """What happened when a notebook ran."""

    port: int
    errors: list = field(default_factory=list)
    output_capped: bool = False
    never_served: bool = False  # nothing served on INGEST_PORT, so the grader served the global `app`
    notebook: object = None  # the executed notebook, outputs capped


class CappedClient(NotebookClient):
    """A notebook client that keeps only the first `cap` characters of output."""

    def __init__(self, nb, cap: int, **kwargs):
        super().__init__(nb, **kwargs)
        self.cap, self.produced, self.capped = cap, 0, False

    def output(self, outs, msg, display_id, cell_index):
        content = msg["content"]
        self.produced += len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        if self.produced <= self.cap or msg["msg_type"] == "error":
            return super().output(outs, msg, display_id, cell_index)
        if not self.capped:
            self.capped = True
            outs.append(nbformat.v4.new_output("stream", name="stderr", text="\n[output capped by the grader]\n"))
        return None


def execute(client: CappedClient, index: int, limit_s: float, run: Run) -> bool:
    """Run one cell within the time limit; record its error; return False once the kernel is gone."""
    client.timeout = max(1, int(limit_s))
    try:
        client.execute_cell(client.nb.cells[index], index)
    except CellExecutionError as error:
        run.errors.append(f"cell {index}: {error.ename}: {str(error.evalue)[:150]}")
    except DeadKernelError:
        run.errors.append(f"cell {index}: the kernel died (did the code call exit() or crash Python?)")
        return False
    return True


@contextmanager
def running(path: Path, settings, limits: Limits):
    """Run the notebook in a fresh kernel and keep the kernel alive while the caller probes it."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP_CODE))  # so cell numbers count the student's cells from 1
    run = Run(port=free_port(), notebook=nb)
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers, CLICKS_TOPIC=settings.topic,
               INGEST_PORT=str(run.port), INGEST_URL=f"http://127.0.0.1:{run.port}/clicks", MPLBACKEND="Agg")
    client = CappedClient(nb, limits.output_chars, kernel_name="python3", interrupt_on_timeout=True,
                          error_on_timeout={"ename": "Timeout", "evalue": "the cell did not finish within its time limit "
                                                            f"({limits.cell_s:.0f} s a cell, {limits.notebook_s:.0f} s in all)"},
                          startup_timeout=60, shutdown_kernel="immediate", record_timing=False,
                          force_raise_errors=True)  # a cell tagged raises-exception still counts as an error
    # The kernel's own stdout and stderr (C extensions, subprocesses) would flood the instructor's terminal.
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with client.setup_kernel(env=env, cwd=str(path.resolve().parent), **quiet):
        deadline = time.monotonic() + limits.notebook_s
        alive = execute(client, 0, 30, run)
        for index in range(1, len(nb.cells)):
            left = deadline - time.monotonic()
            if not alive or left <= 0:
                if alive:
                    run.errors.append(f"cell {index}: not run, the notebook used up its {limits.notebook_s:.0f} s")
                break
            alive = execute(client, index, min(limits.cell_s, left), run)
        if alive and not port_is_open(run.port):
            nb.cells.append(nbformat.v4.new_code_cell(SERVE_AGAIN_CODE))
            execute(client, len(nb.cells) - 1, 20, Run(run.port))
            outputs = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
            run.never_served = "(grader) never served" in outputs
        run.output_capped = client.capped
        yield run


@dataclass
class Grade:
    """One submission's result: points per check and feedback for the student."""

    submission: str
    results: dict = field(default_factory=dict)  # check key -> (passed, note)
    remarks: list = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(check.points for check in rubric.RUBRIC if self.results.get(check.key, (False,))[0])

    def feedback(self) -> str:
        """Return the feedback text: what was lost and what to do, then the remarks."""
        lines = []
        for check in rubric.RUBRIC:
            passed, note = self.results.get(check.key, (False, ""))
            if not passed and note != rubric.NOT_CHECKED:
                lines.append(f"-{check.points} {check.title}: {note or 'failed'}. {check.advice}")
        skipped = [c for c in rubric.RUBRIC if self.results.get(c.key, (False, ""))[1] == rubric.NOT_CHECKED]
        if skipped:
            lines.append(f"-{sum(c.points for c in skipped)} for the {len(skipped)} other checks, "
                         f"{rubric.NOT_CHECKED}.")
        return "\n".join(lines + self.remarks) or "All checks passed."


def grade(path: Path, name: str, settings, limits: Limits, keep: Path | None = None) -> Grade:
    """Grade one notebook against the broker (keep the executed copy under `keep`); failures only cost points."""
    result = Grade(name)
    start = rubric.end_offsets(settings.bootstrap_servers, settings.topic)  # Kafka trouble aborts the run
    try:
        with running(path, settings, limits) as run:
            if run.never_served:
                result.remarks.append("Your notebook did not serve on INGEST_PORT, so the grader served your `app` "
                                      "itself: use BackgroundServer(app, port=settings.ingest_port).start().")
            probes = rubric.probe(f"http://127.0.0.1:{run.port}/clicks", limits.probe_s)
        if keep is not None:
            (keep / name).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(run.notebook, keep / name)
    except Exception as error:  # a notebook that cannot even be read or started scores 0, the class goes on
        result.results = {check.key: (False, rubric.NOT_CHECKED) for check in rubric.RUBRIC}
        result.remarks.append(f"The grader could not run this notebook: {type(error).__name__}: {error}"[:300])
        return result
    values, first = [], probes.replies.get("click0", rubric.Reply(None))
    if first.status == 200:
        values = rubric.marked_records(settings.bootstrap_servers, settings.topic, start, probes.marker)
    result.results = rubric.judge(probes, values, settings.topic, run.errors, run.output_capped)
    if not result.results[rubric.GATE][0] and run.errors:
        result.remarks.append("Errors while running: " + rubric.summarize(run.errors))
    if first.status is None:
        result.remarks.append("Nothing answered on POST /clicks: start the server with "
                              "BackgroundServer(app, port=settings.ingest_port).start() or app.run().")
    return result


def find_submissions(path: Path) -> list:
    """Return the notebooks to grade: the file itself, or every notebook under the folder."""
    if path.is_file():
        return [path]

    def skip(notebook: Path) -> bool:
        """Skip hidden folders (checkpoints) and the executed copies of earlier grading runs."""
        inside = notebook.relative_to(path).parents
        return any(part.startswith(".") for part in notebook.relative_to(path).parts) or any(
            (path / folder / "gradebook.csv").exists() for folder in inside)
    return sorted(p for p in path.rglob("*.ipynb") if not skip(p))


def table(grades: list) -> str:
    """Return the gradebook as a Markdown table: points and the checks each submission lost."""
    rows = [["submission", "points", "max_points", "lost"], ["---", "---:", "---:", "---"]]
    for g in grades:
        lost = ", ".join(c.key for c in rubric.RUBRIC if not g.results.get(c.key, (False,))[0]) or "-"
        if not g.results.get(rubric.GATE, (False,))[0]:
            lost = f"everything ({rubric.GATE} failed)"
        rows.append([g.submission, str(g.points), str(rubric.MAX_POINTS), lost])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def write_gradebook(grades: list, folder: Path) -> None:
    """Write gradebook.csv (one row per notebook) and gradebook.md (table and feedback)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "gradebook.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["submission", "points", "max_points"] + [c.key for c in rubric.RUBRIC] + ["feedback"])
        for g in grades:
            marks = [c.points if g.results.get(c.key, (False,))[0] else 0 for c in rubric.RUBRIC]
            writer.writerow([g.submission, g.points, rubric.MAX_POINTS, *marks, g.feedback()])
    rubric_lines = [f"- `{c.key}` ({c.points}): {c.title}" for c in rubric.RUBRIC]
    sections = [f"## {g.submission}: {g.points}/{rubric.MAX_POINTS}\n\n" +
                "\n".join(f"- {line}" for line in g.feedback().splitlines()) for g in grades]
    text = "\n\n".join(["# Gradebook", table(grades), "## Rubric\n\n" + "\n".join(rubric_lines), *sections])
    (folder / "gradebook.md").write_text(text + "\n", encoding="utf-8")


def main(argv=None) -> int:
    """Grade a notebook or a folder of notebooks and write the gradebook."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.grading", description=__doc__)
    parser.add_argument("submissions", type=Path, help="a notebook, or a folder searched for notebooks")
    parser.add_argument("--out", type=Path, help="folder for the gradebook (default: gradebook-<time>)")
    parser.add_argument("--cell-timeout", type=float, default=Limits.cell_s, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=float, default=Limits.notebook_s, help="seconds per notebook")
    args = parser.parse_args(argv)
    paths = find_submissions(args.submissions) if args.submissions.exists() else []
    if not paths:
        print(f"error: no notebook found at {args.submissions}. Give a .ipynb file or a folder of them.",
              file=sys.stderr)
        return 2
    settings, limits = load_settings(), Limits(cell_s=args.cell_timeout, notebook_s=args.notebook_timeout)
    out = args.out or Path(f"gradebook-{datetime.now():%Y%m%d-%H%M%S}")
    try:
        ensure_kafka(settings)
        grades = []
        for path in paths:
            name = str(path.relative_to(args.submissions)) if args.submissions.is_dir() else path.name
            began = time.monotonic()
            grades.append(grade(path, name, settings, limits, keep=out / "executed"))
            print(f"{name}: {grades[-1].points}/{rubric.MAX_POINTS} ({time.monotonic() - began:.0f} s)", flush=True)
    except (KitError, KafkaError, OSError) as error:
        print(f"error: grading stopped (is Kafka still up?): {error}", file=sys.stderr)
        return 1
    write_gradebook(grades, out)
    print("\n" + table(grades) + "\n")
    print(f"Gradebook written to {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
