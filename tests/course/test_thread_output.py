"""Output from the kit's threads in a real kernel: it lands under the cell that started the thread.

ipykernel 7 sends a thread's output to the cell that ran last unless the thread sets its own parent message;
these tests run cells in a kernel, as a notebook does, and read the iopub messages a notebook would show.
CLICKKIT_KERNEL_PYTHON names another Python to run the kernel with (one with ipykernel 6, say); it needs
flask, requests and ipykernel, and finds clickkit through PYTHONPATH.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
import requests
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from clickkit.course.notebook_server import cell_output

SRC = Path(__file__).parents[2] / "src"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Werkzeug colours the status of an error
KERNEL_PYTHON = os.path.abspath(os.environ.get("CLICKKIT_KERNEL_PYTHON") or sys.executable)

START_SERVER = """
from flask import Flask

from clickkit.course.notebook_server import BackgroundServer

app = Flask("tiny")
app.get("/ok")(lambda: "ok")


@app.get("/boom")
def boom():
    raise ZeroDivisionError("boom on purpose")


server = BackgroundServer(app, port=0).start()
"""

START_CHECK = """
import time

from clickkit.course.checks import call

try:
    call("a slow call", lambda: (time.sleep(1.5), print("slow call done"))[0], seconds=0.1)
except AssertionError as error:
    print("the check gave up on it")
"""

NESTED = """
import threading
import time

from clickkit.course.notebook_server import cell_output


def inner():
    print("from a thread's thread")


def outer():
    time.sleep(1.0)  # the next cell runs meanwhile
    threading.Thread(target=cell_output(inner)).start()


threading.Thread(target=cell_output(outer)).start()
"""


class Kernel:
    """A kernel and its client: run cells as a notebook does, and keep every iopub message seen."""

    def __init__(self, manager: KernelManager):
        self.manager = manager
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.seen = []

    def run(self, code: str, timeout: float = 30) -> str:
        """Run a cell to its end; return its msg_id."""
        msg_id = self.client.execute(code)
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        self.wait_until(lambda: self.idle(msg_id), timeout)
        return msg_id

    def idle(self, msg_id: str) -> bool:
        return any(
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == msg_id
            for m in self.seen
        )

    def wait_until(self, condition, timeout: float) -> bool:
        """Read iopub until condition() holds, at most `timeout` seconds; return whether it did."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self.seen.append(self.client.get_iopub_msg(timeout=min(left, 0.5)))
            except Exception:  # queue.Empty: nothing yet
                pass
        return True

    def text_of(self, msg_id: str) -> str:
        """Return all the stream text that iopub sent with msg_id as its parent, without colours."""
        return ANSI.sub(
            "",
            "".join(
                m["content"]["text"]
                for m in self.seen
                if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
            ),
        )

    def text_by_cell(self) -> dict:
        texts = {}
        for m in self.seen:
            if m["msg_type"] == "stream":
                key = m["parent_header"].get("msg_id", "(no parent)")
                texts[key] = texts.get(key, "") + m["content"]["text"]
        return texts


@pytest.fixture
def kernel(tmp_path):
    spec = tmp_path / "kernels" / "clickkit-test"
    spec.mkdir(parents=True)
    argv = [KERNEL_PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(json.dumps({"argv": argv, "display_name": "test", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    manager = KernelManager(kernel_name="clickkit-test", kernel_spec_manager=specs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    manager.start_kernel(env=env, cwd=str(tmp_path))
    started = Kernel(manager)
    try:
        yield started
    finally:
        started.client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.timeout(90)
def test_the_servers_log_and_errors_land_under_the_cell_that_started_it(kernel):
    first = kernel.run(START_SERVER)
    port = int(re.search(r"Serving on http://127\.0\.0\.1:(\d+)", kernel.text_of(first)).group(1))
    second = kernel.run("print('the second cell')")
    third = kernel.run("print('the third cell')")

    # Each request is served on a thread that the server's own thread starts, after the first cell ended.
    assert requests.get(f"http://127.0.0.1:{port}/ok", timeout=10).text == "ok"
    assert requests.get(f"http://127.0.0.1:{port}/boom", timeout=10).status_code == 500

    lines = ['"GET /ok HTTP/1.1" 200', '"GET /boom HTTP/1.1" 500', "Exception on /boom [GET]", "ZeroDivisionError"]
    assert kernel.wait_until(lambda: all(line in kernel.text_of(first) for line in lines), 15), kernel.text_by_cell()
    assert kernel.text_of(second) == "the second cell\n"
    assert kernel.text_of(third) == "the third cell\n"

    # A cell that runs while requests come in keeps its own output, too.
    fourth = kernel.run(f"import requests\nprint(requests.get('http://127.0.0.1:{port}/ok', timeout=10).text)")
    assert kernel.wait_until(lambda: kernel.text_of(first).count('"GET /ok HTTP/1.1" 200') == 2, 15)
    assert kernel.text_of(fourth) == "ok\n"

    stopped = kernel.run("server.stop()")
    assert kernel.text_of(stopped) == "Server stopped.\n"
    assert kernel.text_of(first).count("GET /") == 3, kernel.text_by_cell()


@pytest.mark.timeout(90)
def test_a_check_that_gave_up_on_a_call_keeps_its_late_output(kernel):
    checked = kernel.run(START_CHECK)
    later = kernel.run("print('a later cell')")
    assert kernel.wait_until(lambda: "slow call done" in kernel.text_of(checked), 10), kernel.text_by_cell()
    assert kernel.text_of(checked) == "the check gave up on it\nslow call done\n"
    assert kernel.text_of(later) == "a later cell\n"


@pytest.mark.timeout(90)
def test_a_thread_started_by_a_routed_thread_prints_under_the_same_cell(kernel):
    started = kernel.run(NESTED)
    later = kernel.run("print('a later cell')")
    assert kernel.wait_until(lambda: "thread's thread" in kernel.text_of(started), 10), kernel.text_by_cell()
    assert kernel.text_of(later) == "a later cell\n"


def test_outside_a_kernel_the_target_is_left_as_it_is():
    def target():
        return 42

    assert cell_output(target) is target
