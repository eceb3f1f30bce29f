"""The grader's pytest side of a submission: what a notebook's kernel can make it do, and what it cannot hide from it.

The cells are run as the grader runs them (nbval and the plugin's cells part, in a pytest of their own), on a plain
kernel of this environment: the sandbox is not what these tests are about, and the rubric needs no Kafka here.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from clickkit.grading.bridge import pinned_socket
from clickkit.grading.kernel_client import ERROR_CHARS, Outputs, keep
from clickkit.grading.plugin import open_endpoint_path

HIDE_FAILURES = """
import sys
get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)
sys.excepthook = lambda *args: None
"""


def notebook(folder: Path, *sources, checked_output: str | None = None) -> Path:
    """Write a notebook of these code cells; checked_output: the last cell's stored output, which nbval compares."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    if checked_output is not None:
        last = nb.cells[-1]
        last.source = "# NBVAL_CHECK_OUTPUT\n" + last.source
        last.execution_count = 1
        last.outputs = [nbformat.v4.new_output("stream", name="stdout", text=checked_output)]
    path = folder / "notebook.ipynb"
    nbformat.write(nb, path)
    return path


def run_cells(path: Path, *options) -> subprocess.CompletedProcess:
    """Run the notebook's cells as the grader's pytest does, without the rubric; return the finished run."""
    command = [sys.executable, "-m", "pytest", str(path), "-p", "clickkit.grading.cells", "-p", "no:cacheprovider"]
    command += ["--nbval-lax", "--nbval-current-env", "-q", "-o", "junit_logging=no", "--rootdir", str(path.parent)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLICKKIT_")}
    return subprocess.run(
        [*command, *options], cwd=path.parent, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def problems(run: subprocess.CompletedProcess) -> list:
    return re.findall(r"^Cell problem: (.*)$", run.stdout, re.MULTILINE)


def summary(run: subprocess.CompletedProcess, what: str) -> int:
    """Return a number the run's summary says: 'counted', 'not kept', 'over' (messages too big), 'peak' (MiB)."""
    patterns = {
        "counted": r"^Output: (\d+) characters counted",
        "not kept": r"^Output: .*, (\d+) messages not kept",
        "over": r"^Output: .*, (\d+) over \d+ bytes dropped",
        "peak": r"^Grader's pytest peak memory: (\d+) MiB",
    }
    found = re.search(patterns[what], run.stdout, re.MULTILINE)
    assert found, run.stdout[-3000:] + run.stderr[-3000:]
    return int(found.group(1))


def test_a_custom_exception_handler_does_not_hide_failing_cells(tmp_path):
    path = notebook(tmp_path, HIDE_FAILURES, "1 / 0", "raise ValueError('hidden too')", "print('fine')")
    run = run_cells(path)
    assert "4 passed" in run.stdout, run.stdout[-3000:]  # nbval saw no error output: the hooks hid them from it
    assert problems(run) == ["cell 1: ZeroDivisionError: division by zero", "cell 2: ValueError: hidden too"]


def test_a_hidden_interruption_is_still_a_timeout(tmp_path):
    path = notebook(tmp_path, HIDE_FAILURES, "import time\ntime.sleep(120)")
    run = run_cells(path, "--nbval-cell-timeout=5")
    assert problems(run) == ["cell 1: Timeout: the cell did not finish within its time limit"], run.stdout[-3000:]


def test_nbval_markers_in_the_notebook_neither_skip_a_cell_nor_excuse_its_error(tmp_path):
    path = notebook(tmp_path, "# NBVAL_SKIP\n1 / 0", "# NBVAL_RAISES_EXCEPTION\nraise KeyError('k')")
    run = run_cells(path)
    assert problems(run) == ["cell 0: ZeroDivisionError: division by zero", "cell 1: KeyError: 'k'"]


def test_a_cell_printing_200_mib_is_dropped_as_it_arrives_and_the_next_cell_still_runs(tmp_path):
    path = notebook(tmp_path, "print('x' * (200 * 2**20))", "print('still here')", checked_output="still here\n")
    run = run_cells(path)
    assert summary(run, "over") == 1  # the verdict: over the cap
    assert problems(run) == [], run.stdout[-3000:]  # the last cell's output came, as stored
    # The grader's pytest stays near its usual 100 MiB; holding the 200 MiB, it reached 1.2 GB.
    assert summary(run, "peak") < 500


def test_output_past_the_cap_is_counted_but_not_kept(tmp_path):
    path = notebook(tmp_path, "for n in range(3000):\n    print('line', n, flush=True)")
    run = run_cells(path, "--grade-output-cap=1000")
    assert summary(run, "counted") > 1000  # the verdict's count goes on past the cap
    assert summary(run, "not kept") > 0


def test_a_message_that_would_pass_the_cap_is_counted_and_left_out():
    outputs = Outputs(cap=1000)
    stream = {"msg_type": "stream", "parent_header": {}, "content": {"name": "stdout", "text": "x" * 600}}
    assert keep(stream, outputs) is stream and not outputs.over
    assert keep(stream, outputs) is None and outputs.over and outputs.dropped == 1 and outputs.chars == 2 * 602


def test_only_what_nbval_uses_is_kept_and_errors_are_cut_short():
    outputs = Outputs(cap=10**6)
    error = {"ename": "ValueError", "evalue": "v" * 10**6, "traceback": ["t" * 10**6, "last line"]}
    kept = keep({"msg_type": "error", "parent_header": {}, "content": error}, outputs)
    assert len(kept["content"]["evalue"]) == ERROR_CHARS and kept["content"]["traceback"][0].endswith("last line")
    idle = {"msg_type": "status", "parent_header": {}, "content": {"execution_state": "idle"}}
    assert keep(idle, outputs) is idle
    for kind, content in (("status", {"execution_state": "busy"}), ("comm_msg", {}), ("made_up", {"text": "x"})):
        assert keep({"msg_type": kind, "parent_header": {}, "content": content}, outputs) is None
    assert keep({"msg_type": "stream", "parent_header": "not a dict", "content": {}}, outputs) is None


def test_a_huge_failure_is_cut_short_in_the_log_and_the_junit_file(tmp_path):
    path = notebook(tmp_path, "raise ValueError('y' * 2**20)", "x = '" + "s" * 300_000 + "'\n1 / 0")
    run = run_cells(path, f"--junitxml={tmp_path / 'junit.xml'}")
    assert problems(run)[0].startswith("cell 0: ValueError: yyy")
    assert len(run.stdout) < 20_000  # over 300,000 characters, uncut
    assert (tmp_path / "junit.xml").stat().st_size < 25_000  # the failure's text is in it twice


def test_the_grader_plugin_brings_in_the_cells_part():
    shown = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "clickkit.grading.plugin", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "--grade-output-cap" in shown.stdout and "--grade-results" in shown.stdout


@pytest.fixture
def folders():
    """Yield (a submission's folder, a folder of the host with its own Unix socket listening), both short paths."""
    with tempfile.TemporaryDirectory(dir="/tmp") as work:  # a socket's path may not exceed 107 bytes
        submission, host = Path(work) / "submission", Path(work) / "host"
        submission.mkdir()
        host.mkdir()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(host / "service.sock"))
        listener.listen(8)
        listener.setblocking(False)
        yield submission, host / "service.sock", listener
        listener.close()


def ask(url: str) -> bytes:
    """Send a request to the grader's end of the endpoint; return all it answers before the connection ends."""
    port = int(url.split(":")[2].split("/")[0])
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(b"GET /clicks HTTP/1.0\r\n\r\n")
            while chunk := sock.recv(4096):
                answer += chunk
        except ConnectionResetError:  # closed with the request unread: as a refusal looks to an HTTP client
            pass
    return answer


def test_the_grader_does_not_follow_a_link_put_in_place_of_the_endpoint_socket(folders):
    submission, host_socket, listener = folders
    (submission / ".endpoint.sock").symlink_to(host_socket)
    refusals = []
    url = open_endpoint_path(submission / ".endpoint.sock", os.geteuid(), refusals)
    assert ask(url) == b""  # the request finds the far side gone
    with pytest.raises(BlockingIOError):
        listener.accept()  # the host's socket never saw the grader
    assert refusals == [f"the endpoint socket was replaced by a symbolic link to {str(host_socket)!r}"]


def test_the_grader_reaches_the_socket_the_sandbox_made(folders):
    submission, _, _ = folders
    endpoint = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    endpoint.bind(str(submission / ".endpoint.sock"))
    endpoint.listen(8)
    url = open_endpoint_path(submission / ".endpoint.sock", os.geteuid(), [])
    with socket.create_connection(("127.0.0.1", int(url.split(":")[2].split("/")[0])), timeout=30) as probe:
        probe.sendall(b"ping")
        endpoint.settimeout(30)
        accepted, _ = endpoint.accept()
        with accepted:
            assert accepted.recv(4) == b"ping"
            accepted.sendall(b"pong")
            assert probe.recv(4) == b"pong"
    endpoint.close()


def test_a_socket_of_another_user_or_linked_twice_is_refused(folders):
    submission, host_socket, _ = folders
    with pytest.raises(PermissionError, match="not the sandbox's"):
        pinned_socket(str(host_socket), os.geteuid() + 1)
    os.link(host_socket, submission / ".endpoint.sock")
    with pytest.raises(PermissionError, match="linked 2 times"):
        pinned_socket(str(submission / ".endpoint.sock"), os.geteuid())
    os.unlink(submission / ".endpoint.sock")
    (submission / ".endpoint.sock").write_text("not a socket")
    with pytest.raises(PermissionError, match="not a socket"):
        pinned_socket(str(submission / ".endpoint.sock"), os.geteuid())
