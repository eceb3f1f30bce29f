"""The grader attacked at its edges, against the real broker: two classes graded at JOBS=2, as make grade does.

A folder of notebooks: the attacks of attacks_edges.py (the grader's memory, threads and disk, a host socket, a
200 without a stored event, hidden failures, a broker's state, injected Markdown and HTML), hostile and colliding
names, and honest copies of the solution beside them. A folder of repositories: notebooks committed as links
to a classmate's, to the instructor's solution, to a secret and to devices. Every neighbour keeps the control's
points, every attacker loses what it did not earn, every grade is written, and no output quotes student text raw.
"""

import csv
import io
import os
import re
import socket
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import psutil
import pytest
from attacks import write_attack
from attacks_edges import EDGE_ATTACKS, NEIGHBOURED

from clickkit.config import REPO_ROOT
from clickkit.grading import grade as grading
from clickkit.grading import rubric

pytestmark = [pytest.mark.timeout(1500), pytest.mark.kafka]

SOLUTION = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
EXERCISE = REPO_ROOT / "notebooks" / "01-ingest-api.ipynb"
SECRET = "SHADOW-SECRET-7f3a9c"  # in a file outside every submission's folder
HOST_SECRET = "HOST-SOCKET-SECRET-51d2"  # what the host's socket would answer
HOSTILE_NAMES = [
    '=HYPERLINK("evil.example")',
    "+1+cmd",
    "@SUM(A1)",
    "<img src=x onerror=alert(3)>",
    "\x1b]0;owned\x07\x1b[2Jterminal",
    "two\nlines",
]
# What one submission may cost the grader's own per-submission process at most (docs/grading.md gives the figures).
GRADER_RSS_BOUND = 768 * 2**20
GRADER_THREADS_BOUND = 64
GRADER_FILE_BOUND = 4 * 2**20  # a log or a JUnit file


class Peaks:
    """Sample the grader's per-submission pytest processes: the highest memory and thread count of each."""

    def __init__(self):
        self.rss, self.threads, self._stop = {}, {}, threading.Event()
        self._sampler = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._sampler.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sampler.join()

    def _run(self):
        while not self._stop.wait(0.25):
            for process in psutil.Process().children(recursive=True):
                try:
                    command = process.cmdline()
                    if "clickkit.grading.plugin" not in command:
                        continue
                    junit = next(arg for arg in command if arg.startswith("--junitxml="))
                    stem = Path(junit.split("=", 1)[1]).stem
                    rss, threads = process.memory_info().rss, process.num_threads()
                except (psutil.Error, StopIteration):
                    continue
                self.rss[stem] = max(self.rss.get(stem, 0), rss)
                self.threads[stem] = max(self.threads.get(stem, 0), threads)


class HostSocket:
    """A Unix socket of the host's that answers like a perfect endpoint; it counts who connects."""

    def __init__(self, path: Path):
        self.path, self.connections = path, 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        body = b'{"topic": "clicks", "partition": 0, "offset": 0, "note": "' + HOST_SECRET.encode() + b'"}'
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                connection.settimeout(2)
                connection.recv(65536)
                connection.sendall(answer + body)
            except OSError:
                pass
            connection.close()


def grade(folder: Path, out: Path) -> dict:
    """Grade a folder at JOBS=2 as make grade does; return the status, what it printed, the rows and the peaks."""
    printed = io.StringIO()
    began = time.monotonic()
    with Peaks() as peaks, redirect_stdout(printed):
        status = grading.main(
            [str(folder), "--out", str(out), "--jobs", "2", "--cell-timeout", "10", "--notebook-timeout", "90"]
        )
    print(f"\nGraded {folder.name} at JOBS=2 in {time.monotonic() - began:.0f} s")  # a figure, not an assertion
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as csv_file:
        rows = {row["submission"]: row for row in csv.DictReader(csv_file)}
    for name, row in rows.items():  # figures for the closing note, not assertions
        lost = [check.key for check in rubric.RUBRIC if row.get(check.key) == "0"]
        print(f"  {name!r}: {row['points']} ({row.get('status', '')}) lost {', '.join(lost) or '-'}")
    return {"status": status, "printed": printed.getvalue(), "rows": rows, "out": out, "peaks": peaks}


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """Grade the folder of notebooks: the attacks, the hostile names, the collisions, and honest neighbours."""
    folder, scratch = tmp_path_factory.mktemp("edges"), tmp_path_factory.mktemp("host")
    host = HostSocket(scratch / "host.sock")
    for name in EDGE_ATTACKS:
        write_attack(name, folder, SOLUTION, EXERCISE, table=EDGE_ATTACKS, host_socket=host.path)
    for name in ["solution", *(f"{attack}-victim" for attack in NEIGHBOURED)]:
        (folder / f"{name}.ipynb").write_bytes(SOLUTION.read_bytes())
    for name in HOSTILE_NAMES:
        (folder / f"{name}.ipynb").write_text("{ not a notebook")
    (folder / "alice").mkdir()
    (folder / "alice" / "lab.ipynb").write_bytes(SOLUTION.read_bytes())
    (folder / "alice__lab.ipynb").write_text("{ not a notebook")
    (folder / "bob").mkdir()
    (folder / "bob" / "lab.ipynb").write_text("{ not a notebook")
    (folder / "bob.ipynb").write_text("{ not a notebook")
    graded = grade(folder, tmp_path_factory.mktemp("edges-out"))
    host.listener.close()
    return {**graded, "host": host, "folder": folder}


def repository(root: Path, login: str) -> Path:
    """Make an empty repository folder for `login`, as `gh repo clone` leaves one; return its notebooks folder."""
    repo = root / f"ingest-lab-{login}"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    return repo / "notebooks"


@pytest.fixture(scope="module")
def repositories(tmp_path_factory):
    """Grade a folder of repositories whose notebook is a link: to a classmate, the solution, a secret, devices."""
    root, outside = tmp_path_factory.mktemp("repos"), tmp_path_factory.mktemp("outside")
    (outside / "shadow").write_text(f"root:{SECRET}:19000:0:99999:7:::\n")
    graded_name = "01-ingest-api.ipynb"
    (repository(root, "honest") / graded_name).write_bytes(SOLUTION.read_bytes())
    links = {
        "classmate": f"../../ingest-lab-honest/notebooks/{graded_name}",
        "solution-absolute": str(SOLUTION),
        "solution-relative": os.path.relpath(SOLUTION, root / "ingest-lab-solution-relative" / "notebooks"),
        "shadow": str(outside / "shadow"),
        "stdin": "/dev/stdin",
        "zero": "/dev/zero",
    }
    for login, target in links.items():
        (repository(root, login) / graded_name).symlink_to(target)
    linked_folder = repository(root, "linked-folder").parent
    (linked_folder / "notebooks").rmdir()
    (linked_folder / "notebooks").symlink_to(SOLUTION.parent, target_is_directory=True)
    os.mkfifo(repository(root, "fifo") / graded_name)
    graded = grade(root, tmp_path_factory.mktemp("repos-out"))
    return {**graded, "attackers": [*links, "linked-folder", "fifo"]}


def every_output(out: Path) -> dict:
    """Return {path: text} of every file the grader wrote but the plot."""
    return {
        path: path.read_text(encoding="utf-8", errors="replace")
        for path in out.rglob("*")
        if path.is_file() and path.suffix != ".png" and ".kernel" not in path.parts
    }


def outside_code(markdown: str) -> list:
    """Return the Markdown's lines outside fenced blocks, with inline code spans removed."""
    lines, fence = [], None
    for line in markdown.splitlines():
        opened = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None:
            if re.match(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$", line):
                fence = None
        elif not line.startswith("    "):  # an indented code block
            lines.append(re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line))
    return lines


def test_every_submission_gets_a_row_and_the_run_ends_well(notebooks, repositories):
    assert notebooks["status"] == 0, notebooks["printed"]
    assert repositories["status"] == 0, repositories["printed"]
    kernels = len(EDGE_ATTACKS) + 1 + len(NEIGHBOURED) + 1
    assert len(notebooks["rows"]) == kernels + len(HOSTILE_NAMES) + 3
    assert len(repositories["rows"]) == 1 + len(repositories["attackers"])
    for graded in (notebooks, repositories):
        for row in graded["rows"].values():
            assert int(row["points"]) == sum(int(row[check.key]) for check in rubric.RUBRIC), row


def test_every_neighbour_keeps_the_controls_points(notebooks, repositories):
    control = notebooks["rows"]["solution.ipynb"]["points"]
    assert control == str(rubric.MAX_POINTS)
    for attack in NEIGHBOURED:
        assert notebooks["rows"][f"{attack}-victim.ipynb"]["points"] == control, attack
    assert notebooks["rows"]["alice/lab.ipynb"]["points"] == control
    honest = next(row for name, row in repositories["rows"].items() if name.endswith("honest"))
    assert honest["points"] == control


def test_a_notebook_committed_as_a_link_or_a_device_is_refused_and_quotes_nothing(repositories):
    for name, row in repositories["rows"].items():
        if not name.endswith("honest"):
            assert row["points"] == "0", (name, row)
    outputs = every_output(repositories["out"])
    assert not [path for path, text in outputs.items() if SECRET in text]
    feedback = "\n".join(text for path, text in outputs.items() if path.parent.name == "feedback")
    for attacker in repositories["attackers"]:
        assert attacker in feedback
    assert feedback.count("link") >= len(repositories["attackers"]) - 1  # the FIFO is no link: it is named so


def test_what_a_kernel_makes_the_grader_do_is_bounded(notebooks):
    peaks = notebooks["peaks"]
    print("\npeak memory (MiB) and threads of each submission's grader process:")
    for stem in sorted(peaks.rss):
        print(f"  {stem}: {peaks.rss[stem] / 2**20:.0f} MiB, {peaks.threads[stem]} threads")
    for attack in ("link-flood", "print-flood", "endless-404"):
        assert peaks.rss[attack] < GRADER_RSS_BOUND, (attack, peaks.rss[attack])
        assert peaks.threads[attack] < GRADER_THREADS_BOUND, (attack, peaks.threads[attack])
    for path in [*(notebooks["out"] / "logs").iterdir(), *(notebooks["out"] / "junit").iterdir()]:
        assert path.stat().st_size < GRADER_FILE_BOUND, path
    assert notebooks["rows"]["print-flood.ipynb"]["runs_cleanly"] == "0"
    assert notebooks["rows"]["endless-404.ipynb"]["json_errors"] == "0"


def test_the_grader_never_connects_to_a_socket_the_student_chose(notebooks):
    assert notebooks["host"].connections == 0
    assert not [path for path, text in every_output(notebooks["out"]).items() if HOST_SECRET in text]
    assert notebooks["rows"]["host-socket.ipynb"]["answers_200"] == "0"


@pytest.mark.parametrize("cheat", ["no-acks", "held-only", "uncommitted"])
def test_a_200_counts_only_for_an_event_kafka_committed_and_acknowledged(notebooks, cheat):
    row = notebooks["rows"][f"{cheat}.ipynb"]
    assert row["answers_200"] == "0", row
    assert int(row["points"]) < rubric.MAX_POINTS


def test_hiding_failures_behind_ipythons_hooks_earns_nothing(notebooks):
    row = notebooks["rows"]["custom-exc.ipynb"]
    assert row["runs_cleanly"] == "0" and row["points"] == "0", row


def test_state_left_on_a_broker_does_not_reach_the_next_lessee(notebooks):
    # The brokers are leased in turn: every honest notebook after the attack meets its broker, emptied.
    honest = [name for name in notebooks["rows"] if name.endswith("-victim.ipynb") or name == "solution.ipynb"]
    assert all(notebooks["rows"][name]["points"] == str(rubric.MAX_POINTS) for name in honest)
    log = next(path for path in (notebooks["out"] / "logs").iterdir() if path.stem == "internal-topics")
    assert "refused" in log.read_text(encoding="utf-8")


def test_no_output_quotes_student_text_raw(notebooks):
    outputs = every_output(notebooks["out"])
    for path, text in outputs.items():
        if path.suffix == ".md":
            lines = outside_code(text)
            assert not [line for line in lines if "<script" in line or "<img" in line], path
            headings = [line for line in lines if line.startswith("#")]
            if path.parent.name == "feedback":
                assert len([line for line in headings if line.startswith("# ")]) == 1, (path, headings)
                own = [h for h in headings if h.startswith("## ")]
                assert len(own) == len(rubric.RUBRIC), (path, headings)
                points = {f"({check.points}/{check.points})" for check in rubric.RUBRIC} | {
                    f"(0/{check.points})" for check in rubric.RUBRIC
                }
                assert all(re.match(r"## [✓✗] ", h) and h.rsplit(" ", 1)[-1] in points for h in own), (path, own)
                assert not [line for line in lines if "forged" in line.lower()], path
        if path.suffix == ".html":
            assert "<script" not in text and "<img" not in text, path
        if path.suffix == ".csv":
            for row in csv.reader(io.StringIO(text)):
                for cell in row:
                    formula = cell[:1] in ("=", "+", "-", "@", "\t", "\r")
                    assert not formula or re.fullmatch(r"-?\d+(\.\d+)?", cell), (path, cell)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", notebooks["printed"])
    injected = outputs[
        next(p for p in outputs if p.parent.name == "feedback" and p.stem == "injection" and p.suffix == ".md")
    ]
    assert "forged (99/2)" in injected  # quoted, as evidence, but inside code


def test_one_name_one_student(notebooks):
    rows = notebooks["rows"]
    assert rows["alice/lab.ipynb"]["points"] == str(rubric.MAX_POINTS) and rows["alice__lab.ipynb"]["points"] == "0"
    feedback = {path.stem: path.read_text(encoding="utf-8") for path in (notebooks["out"] / "feedback").glob("*.md")}
    alices = [text for text in feedback.values() if "alice" in text.splitlines()[0]]
    assert len(alices) == 2 and {f"{rubric.MAX_POINTS}/{rubric.MAX_POINTS}", f"0/{rubric.MAX_POINTS}"} == {
        re.search(r"(\d+/\d+)", text.splitlines()[0]).group(1) for text in alices
    }
    with open(notebooks["out"] / "lms.csv", newline="", encoding="utf-8") as lms:
        bobs = [row for row in csv.DictReader(lms) if "bob" in row["login"]]
    assert len(bobs) == 2
    assert len({path.name for path in (notebooks["out"] / "logs").iterdir()}) == len(
        list((notebooks["out"] / "logs").iterdir())
    )
