"""Grade students' ingest notebooks: each one sandboxed under nbval, its endpoint tested check by check.

python -m clickkit.grading SUBMISSIONS [--jobs N] [--out FOLDER]    # a notebook or a folder of them
"""

import argparse
import dataclasses
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

from clickkit.config import CLICKS_TOPIC, REPO_ROOT, load_settings
from clickkit.course.check_cells import restore_checks
from clickkit.errors import GraderError, KitError, SubmissionRefused
from clickkit.grading import cgroups, gradebook, rubric, sandbox, watchdog
from clickkit.grading.brokers import PrivateBrokers
from clickkit.grading.submissions import file_stem, find_submissions, read_submission
from clickkit.grading.turns import Turns
from clickkit.grading.users import SandboxUsers

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
START_UP_S = 120.0  # for pytest to start the kernel and ask for its turn
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


def prepare(data: bytes, folder: Path) -> Path:
    """Write the private copy to grade: the grader's setup cell first, the check cells restored from the solution.

    `data` is the notebook as submissions.read_submission read it; what is wrong with it is said without quoting it.
    """
    solution = nbformat.read(SOLUTION, as_version=4)
    try:
        notebook = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
        restore_checks(notebook, solution)  # editing, moving or deleting one changes nothing
    except Exception as error:  # its message may quote the file: the name of its kind says enough
        raise ValueError(f"not a Jupyter notebook in JSON ({type(error).__name__})") from None
    setup = nbformat.v4.new_code_cell(SETUP_CODE)
    if notebook.nbformat_minor < 5:
        setup.pop("id")  # a notebook from before cell ids
    notebook.cells.insert(0, setup)
    copy = folder / "submission.ipynb"
    nbformat.write(notebook, copy)
    return copy


def pytest_command(copy: Path, work: Path, junit: Path, limits: Limits, sandboxed: bool, extra=()) -> list:
    """Return the pytest command that runs the copy under nbval and then the rubric."""
    kernel = ["--nbval-kernel-name", sandbox.KERNEL_NAME] if sandboxed else ["--nbval-current-env"]
    return [
        sys.executable,
        "-m",
        "pytest",
        str(copy),
        "-p",
        "clickkit.grading.plugin",
        "-p",
        "no:cacheprovider",
        "--nbval",
        "--nbval-lax",
        *kernel,
        f"--nbval-cell-timeout={limits.cell_s:g}",
        f"--grade-notebook-timeout={limits.notebook_s:g}",
        f"--grade-output-cap={limits.output_chars}",
        f"--grade-results={work / 'results.json'}",
        f"--junitxml={junit}",
        "--rootdir",
        str(work),
        "-c",
        str(work / "pytest.ini"),
        "-q",
        "-W",
        "ignore::DeprecationWarning",
        *extra,
    ]


@dataclass
class Grader:
    """What every submission of a run shares: where results go, the brokers, the limits, the turns to run cells."""

    out: Path
    brokers: PrivateBrokers
    limits: Limits
    spec_root: Path
    turns: Turns
    users: SandboxUsers = field(default_factory=SandboxUsers)


def grade_one(path: Path, name: str, grader: Grader) -> gradebook.Result:
    """Grade one notebook in a private folder, sandbox and broker; raise GraderError when the grader itself fails."""
    # A user that no other sandbox holds meanwhile: the process limits then count this kernel alone.
    with grader.users.lease() as uid:
        work = watchdog.owned_folder(watchdog.WORK_PREFIX, watchdog.WORK_ROOT, uid)
        folder = work / "submission"
        folder.mkdir()
        (work / "link").mkdir(mode=0o755)
        mounted = sandbox.mount_folder(folder)  # a quota on what the submission may write
        try:
            try:
                copy = prepare(path, folder)
            except Exception as error:  # not JSON, not a notebook: the student's file, not the grader
                return gradebook.Result(name, remark=f"The grader could not read this notebook: {error}"[:300])
            sandbox.prepare_folder(folder, uid)
            return run_sandboxed(copy, work, uid, name, grader)
        finally:
            cgroups.remove(uid)
            if mounted:
                sandbox.unmount_folder(folder)
            shutil.rmtree(work, ignore_errors=True)


def run_sandboxed(copy: Path, work: Path, uid: int, name: str, grader: Grader) -> gradebook.Result:
    """Run the copy's pytest with its kernel sandboxed as `uid`, on a leased private broker, and read its verdicts."""
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    out, limits = grader.out, grader.limits
    junit = out / "junit" / f"{file_stem(name)}.xml"  # name: the submission's stem, unique in the run
    junit.parent.mkdir(parents=True, exist_ok=True)
    log = out / "logs" / junit.with_suffix(".log").name
    log.parent.mkdir(parents=True, exist_ok=True)
    command = pytest_command(copy, work, junit, limits, True)
    budget = limits.notebook_s + limits.cell_s + 240  # the cells, one more hung cell, the probes
    with grader.brokers.lease() as broker, open(log, "w", encoding="utf-8") as output:
        output.write(f"{SANDBOX_LINE}{uid} (its processes: ps -u {uid})\n")
        output.flush()
        # The grader's own environment: the kernel gets only what sandbox.kernel_environment() lists.
        env = dict(
            os.environ,
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
            CLICKS_TOPIC=grader.brokers.topic,
            INGEST_PORT=str(sandbox.ENDPOINT_PORT),
            JUPYTER_PATH=str(grader.spec_root),
            **{
                sandbox.FOLDER_VARIABLE: str(copy.parent),
                sandbox.UID_VARIABLE: str(uid),
                sandbox.LINK_VARIABLE: str(work / "link"),
                sandbox.KAFKA_PORT_VARIABLE: str(broker.nodes[0].port),
            },
        )
        try:
            grader.turns.run(command, env, output, work, START_UP_S, budget)
        except subprocess.TimeoutExpired:
            return gradebook.Result(name, remark=f"Grading this notebook took over {budget:.0f} s and was stopped.")
    return read_results(work / "results.json", name, log)


def read_results(path: Path, name: str, log: Path) -> gradebook.Result:
    """Return the verdicts the plugin wrote, or raise GraderError when it could not judge."""
    import json

    if not path.exists():
        raise GraderError(f"{name}: pytest ended without results; its log is {log}")
    results = json.loads(path.read_text(encoding="utf-8"))
    if results["grader_error"] or not results["verdicts"]:
        raise GraderError(f"{name}: {results['grader_error'] or 'no check was judged'} (log: {log})")
    return gradebook.Result(name, results["verdicts"])


def kernel_spec_root(out: Path) -> Path:
    """Return the folder of the sandboxed kernel's spec; raise GraderError where the sandbox cannot run."""
    why = sandbox.unusable()
    if why:
        raise GraderError(sandbox.NOT_ISOLATED.format(why=why[:300]))
    return sandbox.write_kernel_spec(out / ".kernel")


def grade_with_retry(path: Path, name: str, grader: Grader) -> gradebook.Result:
    """Grade once, and again on a fresh broker after a grader error; after a second one, mark it not graded."""
    try:
        return grade_one(path, name, grader)
    except GraderError as first:
        print(f"{name}: GRADER ERROR ({first}); grading it again", file=sys.stderr, flush=True)
    try:
        return grade_one(path, name, grader)
    except GraderError as second:
        print(f"{name}: GRADER ERROR again ({second}); not graded", file=sys.stderr, flush=True)
        return gradebook.Result(name, grader_error=str(second)[:300])


def grade_class(submissions: dict, out: Path, jobs: int, limits: Limits) -> list:
    """Grade every notebook, `jobs` running their cells at once, each on an emptied private broker."""
    spec_root = kernel_spec_root(out)
    turns = Turns(jobs)
    # Twice as many runs as turns: while one runs its cells, the next starts up or the last is being probed.
    runs = 2 * turns.jobs
    print(
        f"Grading {len(submissions)} notebooks, {turns.jobs} running their cells at once; starting {runs} private "
        "Kafka brokers first (about 10 s)...",
        flush=True,
    )
    watchdog.start()  # should this grader be killed outright, its watchdog stops what it started
    brokers = PrivateBrokers(runs, load_settings().kafka_cache, CLICKS_TOPIC)
    grader = Grader(out, brokers, limits, spec_root, turns)
    done = itertools.count(1)

    def one(item):
        name, submission = item
        began = time.monotonic()
        try:
            data = read_submission(submission.root, submission.relative)
        except SubmissionRefused as refused:
            result = gradebook.Result(name, remark=str(refused))
        else:
            # Graded under its stem: the files, logs and messages below then name it safely and apart.
            result = grade_with_retry(data, submission.stem, grader)
        result = dataclasses.replace(result, submission=name, stem=submission.stem)
        score = "NOT GRADED (a grader error)" if result.grader_error else f"{result.points}/{rubric.MAX_POINTS}"
        shown = gradebook.printable(name)
        print(f"[{next(done)}/{len(submissions)}] {shown}: {score} ({time.monotonic() - began:.0f} s)", flush=True)
        return result

    pool = ThreadPoolExecutor(max_workers=runs)
    try:
        return list(pool.map(one, submissions.items()))
    except BaseException:
        turns.stop_all()  # a stop (Ctrl+C, SIGTERM) ends every run now, and the brokers below
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        brokers.stop()


def stop_on_sigterm(signum, frame):
    """Stop grading as Ctrl+C does."""
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Grade a notebook or a folder of notebooks and write the gradebook."""
    parser = argparse.ArgumentParser(
        prog="python -m clickkit.grading", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("submissions", type=Path, help="a notebook, or a folder searched for notebooks")
    parser.add_argument("--out", type=Path, help="folder for the gradebook (default: gradebook-<time>)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks running their cells at once (default 1)")
    parser.add_argument("--cell-timeout", type=float, default=Limits.cell_s, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=float, default=Limits.notebook_s, help="seconds per notebook")
    args = parser.parse_args(argv)
    paths = find_submissions(args.submissions) if args.submissions.exists() else {}
    limits = Limits(cell_s=args.cell_timeout, notebook_s=args.notebook_timeout)
    if not paths:
        print(
            f"error: no notebook found at {args.submissions}. Give a .ipynb file or a folder of them.", file=sys.stderr
        )
        return 2
    out = (args.out or Path(f"gradebook-{datetime.now():%Y%m%d-%H%M%S}")).resolve()
    began = time.monotonic()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # as Ctrl+C does: every run and private broker ends
    try:
        results = grade_class(paths, out, args.jobs, limits)
    except KitError as error:
        print(f"GRADER ERROR, no grades written: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopped: no gradebook written; every sandbox and private broker was stopped.", file=sys.stderr)
        return 130
    gradebook.write_all(results, out, "")
    failed = [gradebook.printable(r.submission) for r in results if r.grader_error]
    minutes, seconds = divmod(round(time.monotonic() - began), 60)
    print(
        f"\n{len(results) - len(failed)} notebooks graded in {minutes} min {seconds:02d} s; "
        f"pass rate per check in {out / 'gradebook.md'}"
    )
    print(f"Gradebook written to {out}")
    if failed:
        print(
            f"GRADER ERROR: {len(failed)} notebooks not graded (no points taken): {', '.join(failed)}. "
            "Their logs are in the logs folder; grade them again with make grade.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
