"""Bad input to the solution's POST /clicks: a 4xx with a JSON message, nothing on the topic, still serving."""

import json
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clickkit.broker.topics import create_topic, read_topic
from clickkit.ingest import app as ingest_app
from clickkit.reliability import scenarios as reliability
from clickkit.reliability.flow import Tally
from clickkit.reliability.scenarios import BAD_CASES, send_bad_case, serve_reference, stop_reference


@pytest.fixture(scope="module")
def module_topic(bootstrap_servers, topic_prefix):
    """One topic for the module: no bad case may ever put anything on it."""
    return create_topic(bootstrap_servers, f"{topic_prefix}bad-input-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def server(bootstrap_servers, module_topic):
    server = serve_reference(bootstrap_servers, module_topic)
    yield server
    stop_reference(server)


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.name for case in BAD_CASES])
def test_bad_request_gets_a_json_4xx_and_writes_nothing(case, server, bootstrap_servers, module_topic):
    tally = Tally(case.name)
    response = send_bad_case(server.url, case, tally)  # also checks /health answers afterwards
    assert tally.problems == []
    assert response.status_code == case.status
    assert response.headers["Content-Type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and len(message) > 10
    assert read_topic(bootstrap_servers, module_topic) == []


def test_the_content_type_decision_is_415_with_a_message_that_says_what_to_send(server):
    response = requests.post(
        server.url + "/clicks", data=b'{"ts_ingest": 1}', timeout=30, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["error"]


def test_content_type_with_a_charset_is_accepted(bootstrap_servers, topic):
    endpoint = ingest_app
    app = endpoint.create_app({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    try:
        response = app.test_client().post(
            "/clicks", data=b'{"ts_ingest": 1}', headers={"Content-Type": "application/json; charset=utf-8"}
        )
    finally:
        endpoint.close_producer(app)
    assert response.status_code == 200, response.get_json()
    assert [json.loads(value) for value in read_topic(bootstrap_servers, topic)] == [{"ts_ingest": 1}]


def test_the_scenario_counts_every_bad_case_as_4xx_and_stores_only_the_good_clicks(bootstrap_servers, topic):
    tally = reliability.bad_input_scenario(bootstrap_servers, topic, good_clicks=3)
    assert tally.problems == []
    assert tally.row() == {
        "scenario": "bad input",
        "requests": len(BAD_CASES) + 3,
        "2xx": 3,
        "4xx": len(BAD_CASES),
        "5xx": 0,
        "acknowledged_missing": 0,
        "duplicates": 0,
    }


def nesting(value) -> int:
    """Return how many objects and arrays are nested in a JSON value (the endpoint allows 16)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def test_arbitrary_bytes_and_json_never_get_a_5xx_and_only_objects_reach_the_topic(bootstrap_servers, topic):
    endpoint = ingest_app
    app = endpoint.create_app({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    client = app.test_client()  # the HTTP layer is not under test here; the app and Kafka are
    stored = []

    def post(body: bytes) -> int:
        status = client.post("/clicks", data=body, content_type="application/json").status_code
        assert status < 500, body[:200]
        return status

    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=300))
    def arbitrary_bytes(body):
        if post(body) == 200:
            stored.append(json.loads(body))

    @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(JSON_VALUES)
    def arbitrary_json(value):
        status = post(json.dumps(value).encode())
        if status == 200:
            stored.append(value)
        assert status == (200 if isinstance(value, dict) and nesting(value) <= 16 else 400), value

    try:
        arbitrary_bytes()
        arbitrary_json()
    finally:
        endpoint.close_producer(app)
    on_topic = [json.loads(value) for value in read_topic(bootstrap_servers, topic)]
    assert all(isinstance(event, dict) for event in on_topic)
    assert len(on_topic) == len(stored) > 0
    assert on_topic == stored
