"""The reference endpoint keeps the course's contract: its answers, its size limit, and its deadline."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from clickkit import contract, schema
from clickkit.broker.gate import KafkaGate
from clickkit.broker.topics import read_topic
from clickkit.ingest import app as ingest_app


def test_a_click_gets_200_with_exactly_the_contracts_keys_once_it_is_on_the_topic(client, bootstrap_servers, topic):
    response = client.post(contract.PATH, json=schema.SAMPLE)
    assert response.status_code == contract.OK, response.get_json()
    body = response.get_json()
    assert set(body) == set(contract.OK_BODY_KEYS) and body["topic"] == topic
    assert [json.loads(value) for value in read_topic(bootstrap_servers, topic)] == [schema.SAMPLE]


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        (b"{", contract.CONTENT_TYPE, contract.BAD_REQUEST),
        (b"[1, 2]", contract.CONTENT_TYPE, contract.BAD_REQUEST),
        (b'{"visitor_page_timer": NaN}', contract.CONTENT_TYPE, contract.BAD_REQUEST),
        (b'{"ts_ingest": 1}', "text/plain", contract.UNSUPPORTED_TYPE),
        (b'{"a": "' + b"x" * contract.MAX_BODY_BYTES + b'"}', contract.CONTENT_TYPE, contract.TOO_LARGE),
    ],
)
def test_a_refused_request_gets_the_contracts_status_and_a_json_message_before_kafka_is_asked(
    app_without_kafka, body, content_type, status
):
    response = app_without_kafka.test_client().post(contract.PATH, data=body, content_type=content_type)
    assert response.status_code == status
    assert isinstance(response.get_json()["error"], str) and response.get_json()["error"]


def test_a_body_of_exactly_the_size_limit_is_read_not_refused_as_too_large(app_without_kafka):
    body = b"[" + b" " * (contract.MAX_BODY_BYTES - 3) + b"1]"  # an array: read whole, then refused as one
    assert len(body) == contract.MAX_BODY_BYTES
    response = app_without_kafka.test_client().post(contract.PATH, data=body, content_type=contract.CONTENT_TYPE)
    assert response.status_code == contract.BAD_REQUEST and "not an array" in response.get_json()["error"]


def test_eight_requests_at_once_without_kafka_all_get_an_honest_503_within_the_contracts_bound(bootstrap_servers):
    gate = KafkaGate(bootstrap_servers)  # closed: nothing listens at its address
    app = ingest_app.create_app({"KAFKA_BOOTSTRAP_SERVERS": gate.address})

    def post(_):
        started = time.monotonic()
        response = app.test_client().post(contract.PATH, json={"article_title": "Kafka"})
        return response, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    for response, seconds in answers:
        assert response.status_code == contract.UNAVAILABLE
        assert response.headers["Retry-After"] == str(contract.RETRY_AFTER_S)
        assert response.get_json() == {"error": ingest_app.UNAVAILABLE} and "may not" in ingest_app.UNAVAILABLE
        # The app's deadline is REFERENCE_DEADLINE_S, below the bound. Before the deadline, the lock, the
        # producer's creation, send() and the wait could add up to nearly twice the bound.
        assert seconds < contract.UNAVAILABLE_WITHIN_S, f"a 503 took {seconds:.1f} s"
    ingest_app.close_producer(app)
