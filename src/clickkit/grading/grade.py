"""Grade students' ingest notebooks: each one sandboxed under nbval, its endpoint tested check by check.

python -m clickkit.grading SUBMISSIONS [--jobs N] [--out FOLDER]    # a notebook or a folder of them
python -m clickkit.grading CLASS --roster R.csv --deadline 2027-01-15T23:59+01:00 [--late 10%/day,max=3d]
python -m clickkit.grading CLASS --out FOLDER --student LOGIN       # regrade one student into FOLDER
python -m clickkit.grading --out FOLDER --overrides O.csv           # change points, every output rewritten
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
from clickkit.grading import cgroups, classlist, gradebook, lms, rubric, sandbox, term, watchdog
from clickkit.grading.brokers import PrivateBrokers
from clickkit.grading.deadline import Rules
from clickkit.grading.roster import Roster
from clickkit.grading.submissions import file_stem
from clickkit.grading.turns import Turns
from clickkit.grading.users import SandboxUsers

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
START_UP_S = 120.0  # for pytest to start the kernel and ask for its turn
SANDBOX_LINE = "Sandboxed as uid "  # the first line of each submission's log, when sandboxed
# The grader's first cell in the kernel: a blocking app.run() serves in the background (grading/kernel_hooks.py).
SETUP_CODE = "from clickkit.grading.kernel_hooks import install\n\ninstall()"


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
        "-o",
        "junit_logging=no",  # no captured output in the JUnit file: the verdicts and (capped) failure texts only
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
            grader.turns.run(command, env, output, work, START_UP_S, budget, uid=uid)  # in the run's own group
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


def grade_class(entries: list, out: Path, jobs: int, limits: Limits) -> list:
    """Grade every entry's notebook, `jobs` running their cells at once, each on an emptied private broker."""
    spec_root = kernel_spec_root(out)
    turns = Turns(jobs)
    # Twice as many runs as turns: while one runs its cells, the next starts up or the last is being probed.
    runs = 2 * turns.jobs
    print(
        f"Grading {len(entries)} notebooks, {turns.jobs} running their cells at once; starting {runs} private "
        "Kafka brokers first (about 10 s)...",
        flush=True,
    )
    watchdog.start()  # should this grader be killed outright, its watchdog stops what it started
    brokers = PrivateBrokers(runs, load_settings().kafka_cache, CLICKS_TOPIC)
    grader = Grader(out, brokers, limits, spec_root, turns)
    done = itertools.count(1)

    def one(entry):
        name, began = entry.submission, time.monotonic()
        try:
            data = entry.load()
        except SubmissionRefused as refused:
            result = gradebook.Result(name, remark=str(refused))
        else:
            term.keep_copy(out, entry.stem, data)
            # Graded under its stem: the files, logs and messages below then name it safely and apart.
            result = grade_with_retry(data, entry.stem, grader)
        result = dataclasses.replace(result, submission=name, stem=entry.stem)
        score = "NOT GRADED (a grader error)" if result.grader_error else f"{result.points}/{rubric.MAX_POINTS}"
        shown = gradebook.printable(name)
        print(f"[{next(done)}/{len(entries)}] {shown}: {score} ({time.monotonic() - began:.0f} s)", flush=True)
        return result

    pool = ThreadPoolExecutor(max_workers=runs)
    try:
        return list(pool.map(one, entries))
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


def options(argv=None) -> argparse.Namespace:
    """Return the grading run's options: the one place they are read (the Makefile passes its variables here)."""
    parser = argparse.ArgumentParser(
        prog="python -m clickkit.grading", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("submissions", type=Path, nargs="?", help="a notebook, a folder of notebooks or of student repositories")
    add("--out", type=Path, help="the gradebook folder to write, or to update (default: gradebook-<time>)")
    add("--jobs", type=int, default=1, help="notebooks running their cells at once (default 1)")
    add("--cell-timeout", type=float, default=Limits.cell_s, help="seconds per cell")
    add("--notebook-timeout", type=float, default=Limits.notebook_s, help="seconds per notebook")
    add("--roster", type=Path, help="the LMS's export of the class with a github column")
    add("--assignment", help="without a roster: the repositories' prefix (ingest-lab-)")
    add("--deadline", help="grade each repository at its last commit by then (2027-01-15T23:59+01:00)")
    add("--late", help="a late policy, e.g. 10%%/day,max=3d: grade the latest commit and take this off")
    add("--collected-at", help="when the repositories were collected (default: each one's last fetch)")
    add("--student", help="regrade this login only, into the gradebook folder --out")
    add("--overrides", type=Path, help="a CSV github,check,points,reason applied to every output")
    add("--lms-column", help="the lab's column in canvas.csv and moodle.csv (default: the lab's title)")
    add("--missing", choices=sorted(lms.MISSING_POLICIES), help="what a missing student gets in the LMS files")
    add("--labs", help="the labs to grade (only 01 has a rubric so far)")
    return parser.parse_args(argv)


SETTINGS = ("roster", "assignment", "deadline", "late", "collected_at", "lms_column", "missing", "labs")


def settings_of(args: argparse.Namespace, kept: dict) -> dict:
    """Return the class's settings: those given now, else those the gradebook folder was graded with."""
    given = {name: getattr(args, name) for name in SETTINGS}
    given["roster"] = str(args.roster.resolve()) if args.roster else None
    settings = {**kept, **{name: value for name, value in given.items() if value}}
    return {"missing": "zero", "lms_column": term.lab_title(), **settings}


def grade_entries(entries: list, out: Path, args: argparse.Namespace) -> list:
    """Run the entries that have a notebook; return every entry's Result, its status and commit filled in."""
    limits = Limits(cell_s=args.cell_timeout, notebook_s=args.notebook_timeout)
    runnable = [entry for entry in entries if entry.load is not None]
    ran = {r.submission: r for r in (grade_class(runnable, out, args.jobs, limits) if runnable else [])}
    results = []
    for entry in entries:
        if entry.load is None:  # missing or unknown: nothing to run, and the notes say why
            results.append(entry.result())
            continue
        result = dataclasses.replace(ran[entry.submission], **entry.meta)
        if result.grader_error:
            result.status = gradebook.NOT_GRADED
        results.append(result)
    return results


def only_student(entries: list, login: str) -> list:
    """Return the entries of one login (or of one unknown repository's folder name)."""
    chosen = [e for e in entries if login.lower() in (e.result().login.lower(), e.submission.lower())]
    if not chosen:
        raise GraderError(f"STUDENT={login}: no roster line or repository of that login in the submissions.")
    return chosen


def run(args: argparse.Namespace, out: Path) -> list:
    """Grade the class, or one student into the gradebook folder, apply the overrides; return every Result."""
    regrading = bool(args.student) or not args.submissions
    old, kept = term.load(out) if regrading else ([], {})
    settings = settings_of(args, kept)
    roster = Roster.read(Path(settings["roster"])) if settings.get("roster") else None
    rules = Rules.from_env({name.upper(): settings.get(name) or "" for name in ("deadline", "late", "collected_at")})
    lab = classlist.lab_numbers(settings.get("labs"))[0]
    entries = (
        classlist.build(args.submissions, roster, settings.get("assignment"), rules, lab) if args.submissions else []
    )
    if args.student:
        entries = only_student(entries, args.student)
    elif args.submissions and not entries:
        raise GraderError(f"no notebook found at {args.submissions}. Give a .ipynb file or a folder of them.")
    # The overrides are checked before any notebook runs: a typo costs no grading time.
    overrides = term.read_overrides(args.overrides, old + [e.result() for e in entries]) if args.overrides else []
    results = grade_entries(entries, out, args) if entries else []
    changes = [f"regrade of {args.student}: {term.counts(results)}"] if args.student else []
    changes += [f"graded {args.submissions}: {term.counts(results)}"] if args.submissions and not args.student else []
    results = term.merged(old, results, args.student) if args.student else results or old
    changes += term.override(results, overrides)
    write_outputs(results, out, settings, roster, changes)
    return results


def write_outputs(results: list, out: Path, settings: dict, roster, changes: list) -> None:
    """Write every output of the gradebook folder from the results, and log the changes."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        link = term.write_similarity(out, results)
    except Exception as error:  # the comparison is evidence beside the grades: its failure must not lose them
        link = f"similarity.html was not written: {type(error).__name__}: {gradebook.escaped(str(error)[:200])}"
    gradebook.write_all(results, out, "", settings["missing"], more=(link,))
    term.save(out, results, settings)
    said = ["canvas.csv and moodle.csv not written: no ROSTER given (lms.csv is, by login)"]
    if roster is not None:
        said = term.write_lms(out, roster, results, settings["lms_column"], settings["missing"])
    term.log_changes(out, changes)
    print("\n".join(said), flush=True)


def main(argv=None) -> int:
    """Grade a notebook, a folder of notebooks or a class's repositories and write the gradebook folder."""
    args = options(argv)
    out = (args.out or Path(f"gradebook-{datetime.now():%Y%m%d-%H%M%S}")).resolve()
    if not args.submissions and not args.overrides:
        print("error: give SUBMISSIONS (a notebook or a folder), or OVERRIDES with OUT.", file=sys.stderr)
        return 2
    if args.student and not args.out:
        print("error: STUDENT regrades into an existing gradebook folder: give it as OUT.", file=sys.stderr)
        return 2
    began = time.monotonic()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # as Ctrl+C does: every run and private broker ends
    try:
        results = run(args, out)
    except KitError as error:
        print(f"GRADER ERROR, no grades written: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopped: no gradebook written; every sandbox and private broker was stopped.", file=sys.stderr)
        return 130
    failed = [gradebook.printable(r.submission) for r in results if r.grader_error]
    minutes, seconds = divmod(round(time.monotonic() - began), 60)
    print(
        f"\n{sum(r.judged for r in results)} notebooks graded in {minutes} min {seconds:02d} s; "
        f"pass rate per check in {out / 'gradebook.md'}"
    )
    print(term.counts(results))
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
