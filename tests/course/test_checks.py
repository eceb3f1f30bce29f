"""Self-checks: a line on success, and a plain AssertionError that says what to do on any failure."""

import time

import flask
import nbformat
import pytest
from nbclient import NotebookClient

from clickkit.course.checks import call, check, view_errors, view_note


def test_success_prints_the_requirement(capsys):
    with check("the route answers 201"):
        assert 1 + 1 == 2
    assert capsys.readouterr().out == "✓ the route answers 201\n"


@pytest.mark.parametrize("failure, expected", [
    (AssertionError("got 500; expected 201"), "got 500; expected 201"),
    (NotImplementedError("hello() is not written yet"), "hello() is not written yet"),
    (NameError("name 'app' is not defined"), "run the cells above this one first"),
    (KeyError("offset"), "Your code raised KeyError"),
])
def test_every_failure_becomes_an_assertion_naming_the_requirement(failure, expected, capsys):
    with pytest.raises(AssertionError) as raised:
        with check("the route answers 201"):
            raise failure
    assert type(raised.value) is AssertionError
    assert str(raised.value).startswith("✗ the route answers 201\n") and expected in str(raised.value)
    assert raised.value._render_traceback_()[1:] == str(raised.value).splitlines()[1:]  # IPython shows this only
    assert capsys.readouterr().out == ""


def test_a_call_names_the_input_that_made_the_students_code_raise():
    def rate(body):
        return body.get("stars")

    with pytest.raises(AssertionError) as raised:
        call("rate() on a JSON array", rate, [1, 2], seconds=5)
    assert str(raised.value).startswith("rate() on a JSON array raised AttributeError: 'list' object has no "
                                        "attribute 'get'. The body was JSON, but not an object")


def test_a_call_that_hangs_is_stopped_with_a_message():
    started = time.monotonic()
    with pytest.raises(AssertionError) as raised:
        call("record()", time.sleep, 30, seconds=0.5, on_timeout="Is a lock taken twice?")
    assert time.monotonic() - started < 25  # the check does not wait for the hung call
    assert str(raised.value) == ("record() had not finished after 0.5 s, so the check stopped waiting. "
                                 "Is a lock taken twice?")


def test_a_stub_passes_through_call_so_that_the_check_says_to_write_it():
    def stub():
        raise NotImplementedError("rate() is not written yet")

    with pytest.raises(NotImplementedError):
        call("rate()", stub)


def test_view_errors_names_the_views_error_instead_of_logging_its_traceback(capsys):
    app = flask.Flask("broken")

    @app.post("/clicks")
    def ingest():
        raise TimeoutError("no broker")

    with view_errors(app) as raised:
        assert app.test_client().post("/clicks").status_code == 500
    assert "Your view raised TimeoutError: no broker, so Flask answered 500." in view_note(raised)
    assert capsys.readouterr().err == ""


def test_in_jupyter_a_failing_check_and_a_stub_show_their_message_and_no_frames():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "from clickkit.course.checks import check\n"
        "def rate():\n    raise NotImplementedError('rate() is not written yet: write it, then run its cell again.')",
        'with check("rate() answers 201"):\n    assert 1 == 2, "got 400; expected 201"',
        "rate()",
        "raise NotImplementedError('a library that is not a stub')",
    )])
    NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True).execute()
    failed_check, stub, other = (cell.outputs[-1] for cell in notebook.cells[1:])
    assert failed_check.ename == "AssertionError"
    assert [line.replace("\x1b[0;31m", "").replace("\x1b[1m", "").replace("\x1b[0m", "")
            for line in failed_check.traceback] == ["✗ rate() answers 201", "got 400; expected 201"]
    assert stub.ename == "NotImplementedError" and len(stub.traceback) == 2
    assert "rate() is not written yet" in stub.traceback[0] and "contextlib" not in "".join(stub.traceback)
    assert len(other.traceback) > 2  # anything else keeps its whole traceback
