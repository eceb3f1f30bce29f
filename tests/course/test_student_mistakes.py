"""Students' mistakes, run against the course's own checks: the message names the cause, never a helper's error.

Each notebook test takes the solution, puts one mistake a student made into it, runs it in a kernel as
`make check` does, and reads what the checks printed.
"""

import threading
import time
import uuid

import flask
import nbformat
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.serializer import JsonSerializer
from nbclient import NotebookClient

from clickkit.broker.topics import admin, create_topic, delete_topics_with_prefix
from clickkit.config import REPO_ROOT
from clickkit.course import selfcheck
from clickkit.course.checks import call, check, view_errors, view_note


def with_mistake(name: str, *edits, stop_after: str = "") -> nbformat.NotebookNode:
    """Return the solution notebook `name` with each (cell id, old text, new text) edit made, up to a cell id."""
    notebook = nbformat.read(REPO_ROOT / "solutions" / name, as_version=4)
    cells = {cell.id: cell for cell in notebook.cells}
    for cell_id, old, new in edits:
        assert old in cells[cell_id].source, f"the solution's cell {cell_id} no longer holds {old!r}"
        cells[cell_id].source = cells[cell_id].source.replace(old, new)
    if stop_after:
        notebook.cells = notebook.cells[: [cell.id for cell in notebook.cells].index(stop_after) + 1]
    return notebook


def checked(notebook) -> tuple:
    """Run the notebook as make check does (beside the solutions, so that 02 finds 01); return its report, seconds."""
    started = time.monotonic()
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(REPO_ROOT / "solutions")}},
    ).execute()
    lines, _, _ = selfcheck.report(notebook)
    return "\n".join(lines), time.monotonic() - started


VIEW = "b4070562"  # 01's create_app, with the view of Task 3
READ_CLICK = "64b27322"  # 01's Task 1
WAITS = 'metadata = producer().send(app.config["CLICKS_TOPIC"], event).get(timeout=SEND_TIMEOUT_S)'


@pytest.mark.slow
def test_01_a_view_that_answers_before_get_and_a_nan_that_is_stored_are_named(bootstrap_servers):
    report, _ = checked(
        with_mistake(
            "01-ingest-api.ipynb",
            # answering before Kafka acknowledged: the future's value is still None (linger_ms makes sure of it)
            ("6929496b", "value_serializer=JsonSerializer(),", "value_serializer=JsonSerializer(), linger_ms=300,"),
            (VIEW, WAITS, 'future = producer().send(app.config["CLICKS_TOPIC"], event)'),
            (
                VIEW,
                "return jsonify(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)",
                'return jsonify(topic=app.config["CLICKS_TOPIC"], partition=0, offset=future.value)',
            ),
            # NaN read as a float and stored
            (READ_CLICK, "parse_constant=refuse_constant, ", ""),
            stop_after="bd277387",  # the check that a refused request writes nothing
        )
    )
    assert "its offset is None, so the view answered before Kafka acknowledged the event" in report
    assert ".get(timeout=...)" in report and "record metadata" in report
    assert "a click with NaN in it got 200" in report  # each request named with its own answer
    assert "invalid JSON got 400; a JSON array got 400; a click sent as text/plain got 415" in report
    assert "Your code raised" not in report and "KeyError" not in report


@pytest.mark.slow
def test_01_a_click_encoded_twice_is_named(bootstrap_servers):
    report, _ = checked(
        with_mistake(
            "01-ingest-api.ipynb",
            (VIEW, 'send(app.config["CLICKS_TOPIC"], event)', 'send(app.config["CLICKS_TOPIC"], json.dumps(event))'),
            stop_after="c98778c4",  # the 200 check
        )
    )
    assert "a JSON string that holds the click's JSON text, so the click was encoded twice" in report
    assert "give send() the dict that read_click() returned" in report


def test_01_bytes_given_to_the_json_serializer_are_named(bootstrap_servers, topic):
    app = flask.Flask("bytes-to-json-serializer")
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, value_serializer=JsonSerializer())

    @app.post("/clicks")
    def ingest():
        metadata = producer.send(topic, flask.request.get_data()).get(timeout=10)
        return {"offset": metadata.offset}

    try:
        with view_errors(app) as raised:
            assert app.test_client().post("/clicks", json={"a": 1}).status_code == 500
    finally:
        producer.close(timeout=5)
    note = view_note(raised)
    assert "JsonSerializer turns what send() is given into JSON bytes itself" in note
    assert "Give send() the click as the dict" in note


@pytest.mark.slow
def test_02_a_request_log_that_takes_its_lock_twice_is_named_within_seconds(bootstrap_servers):
    report, seconds = checked(
        with_mistake(
            "02-fake-website.ipynb",
            (
                "8237882f",
                "        clear_output(wait=True)\n",
                "        with self.lock:\n            clear_output(wait=True)\n",
            ),
        )
    )
    assert "Does it take the lock it already holds?" in report
    assert "had not finished after 5 s" in report
    assert "the serving cell stopped before the server started" in report
    assert "AttributeError" not in report and "the fake website did not finish" not in report
    assert seconds < 90, f"02 took {seconds:.0f} s with a RequestLog that deadlocks"


def test_a_timed_out_check_closes_the_consumer_it_left_running(bootstrap_servers, topic_prefix):
    """A student's consumer without consumer_timeout_ms never stops; after the check, no consumer or topic stays."""
    name = create_topic(bootstrap_servers, f"{topic_prefix}stray-consumer-{uuid.uuid4().hex[:8]}")
    created = []

    def read_for_ever():
        consumer = KafkaConsumer(name, bootstrap_servers=bootstrap_servers, auto_offset_reset="earliest")
        created.append(consumer)
        return [record.value for record in consumer]  # no consumer_timeout_ms: it waits for ever

    with pytest.raises(AssertionError) as raised:
        with check("visitor_clicks() stops by itself"):
            call("visitor_clicks(topic, 'zoe')", read_for_ever, seconds=4, on_timeout="Use consumer_timeout_ms.")
    message = str(raised.value)
    assert "had not finished after 4 s" in message and "closed the 1 Kafka client(s)" in message, message
    assert "Use consumer_timeout_ms." in message
    assert created and created[0]._closed
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("check: visitor_clicks")]

    delete_topics_with_prefix(bootstrap_servers, name)  # what the check's own clean-up does next
    time.sleep(6)  # a consumer left running would ask for the topic's metadata meanwhile, and create it again
    with admin(bootstrap_servers) as client:
        assert name not in client.list_topics()
