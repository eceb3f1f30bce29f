"""rubric.judge on its own: each check judged from the replies and the records alone, in milliseconds."""

import json

from clickkit import contract
from clickkit.grading.rubric import Probes, Record, Records, Reply, bad_requests, judge, judge_outage

STATUS_OF = {
    "invalid_json": contract.BAD_REQUEST,
    "not_an_object": contract.BAD_REQUEST,
    "strict_json": contract.BAD_REQUEST,
    "content_type": contract.UNSUPPORTED_TYPE,
    "too_large": contract.TOO_LARGE,
}
MESSAGE = "Kafka did not confirm the event in time, so it may not have been stored."


def answered(name: str, status: int, body=None) -> Reply:
    body = {"error": f"{name} is refused"} if body is None else body
    return Reply(f"POST /clicks: {name}", status=status, body=body, is_json=True, seconds=0.01)


def perfect() -> tuple:
    """Return the probes of an endpoint that keeps the whole contract, and the records it left on the topic."""
    probes = Probes(marker="grading-test")
    probes.clicks = [probes.click() for _ in range(7)]
    for n in range(1, 7):  # click n is at offset n - 1: its 200 says so
        probes.replies[f"click {n}"] = answered(f"click {n}", contract.OK, stored_at(n - 1))
    for name, (key, _, _) in bad_requests(probes).items():
        probes.replies[name] = answered(name, STATUS_OF[key])
    probes.replies["an unknown URL"] = answered("an unknown URL", 404)
    probes.replies["GET /clicks"] = answered("GET /clicks", 405)
    probes.replies["click 7, after the bad requests"] = answered("click 7", contract.OK, stored_at(6))
    probes.outage = {
        "503": Reply(
            "POST /clicks: Kafka down",
            status=contract.UNAVAILABLE,
            body={"error": MESSAGE},
            is_json=True,
            seconds=1.0,
            retry_after=str(contract.RETRY_AFTER_S),
        ),
        "recovery": answered("Kafka back", contract.OK, stored_at(99)),
    }
    values = Records(
        [Record(json.dumps(click).encode(), 0, n) for n, click in enumerate(probes.clicks)], contract.TOPIC
    )
    return probes, values


def stored_at(offset: int, topic: str = contract.TOPIC) -> dict:
    return {"topic": topic, "partition": 0, "offset": offset}


def failed(verdicts: dict) -> dict:
    return {key: verdict.note for key, verdict in verdicts.items() if not verdict.passed}


def test_an_endpoint_that_keeps_the_contract_passes_every_check_of_the_rubric():
    probes, values = perfect()
    verdicts = judge(probes, values, cell_errors=[], output_capped=False)
    assert set(verdicts) == set(contract.CHECKS)
    assert failed(verdicts) == {}


def test_a_503_at_the_bound_is_too_late_and_says_how_long_it_took():
    probes, _ = perfect()
    probes.outage["503"].seconds = contract.UNAVAILABLE_WITHIN_S
    verdicts = judge_outage(probes.outage)
    assert failed(verdicts) == {"unavailable_503": f"it took {contract.UNAVAILABLE_WITHIN_S:.1f} s"}


def test_a_503_that_leaks_a_traceback_and_promises_nothing_fails_with_both_reasons():
    probes, _ = perfect()
    probes.outage["503"].body = {"error": "KafkaTimeoutError: Traceback ..."}
    probes.outage["503"].retry_after = None
    note = failed(judge_outage(probes.outage))["unavailable_503"]
    assert "no Retry-After header" in note and "*may*" in note and "internal detail" in note


def test_no_outage_reply_fails_both_outage_checks_with_the_reason():
    verdicts = judge_outage({"503": "the notebook's create_app failed"})
    assert failed(verdicts) == {
        "unavailable_503": "the notebook's create_app failed",
        "recovers": "the notebook's create_app failed",
    }


def test_a_refused_request_on_the_topic_costs_only_its_own_check():
    probes, values = perfect()
    values.append(Record(json.dumps({"article": probes.rejected_marker}).encode(), 0, 7))
    assert failed(judge(probes, values, [], False)) == {"rejects_write_nothing": "1 refused requests reached Kafka"}


def test_clicks_out_of_order_and_a_click_twice_are_named():
    probes, values = perfect()
    values[2], values[3] = values[3], values[2]
    values.append(values[0])
    assert failed(judge(probes, values, [], False)) == {
        "clicks_in_order": "on the topic in this order: [1, 3, 2, 4, 5]",
        "click_on_topic": "found 2 times on the topic",
    }


def test_a_200_body_with_another_key_fails_body_keys_and_no_200_at_all_cannot_be_judged():
    probes, values = perfect()
    probes.replies["click 1"] = answered("click 1", contract.OK, {"status": "ok"})
    assert failed(judge(probes, values, [], False)) == {"body_keys": "a 200 body has other keys, or is not JSON"}
    for reply in probes.replies.values():
        if reply.status == contract.OK:
            reply.status = 500
    notes = failed(judge(probes, values, [], False))
    assert notes["body_keys"] == "cannot be checked: no click got a 200"
    assert notes["answers_200"] == "7 of 7 got another answer than 200"


def test_a_200_before_kafkas_acknowledgement_fails_answers_200_on_any_click():
    probes, values = perfect()
    probes.replies["click 4"].before_ack = "answered 200 while Kafka's acknowledgement was held back"
    verdicts = judge(probes, values, [], False)
    assert failed(verdicts) == {"answers_200": "a 200 came before Kafka had acknowledged the click"}
    assert verdicts["answers_200"].evidence == [f"{probes.replies['click 4']}"]


def test_a_200_that_names_another_record_than_its_clicks_fails_body_keys():
    probes, values = perfect()
    probes.replies["click 3"].body["offset"] = 0  # a guess: offset 0 is click 1's
    verdicts = judge(probes, values, [], False)
    assert failed(verdicts) == {"body_keys": "1 of 7 200s name another record than their click's"}
    assert (
        verdicts["body_keys"]
        .evidence[0]
        .endswith("names a place where its click is not: it is at partition 0, offset 2")
    )
    probes.replies["click 3"].body["offset"] = 2.0  # the right number, but not an offset Kafka gives
    assert failed(judge(probes, values, [], False)) == {
        "body_keys": "1 of 7 200s name another record than their click's"
    }


def test_a_200_for_a_click_not_stored_fails_body_keys_unless_it_names_a_topic_the_grader_does_not_read():
    probes, values = perfect()
    del values[0]  # click 1 never reached the topic, yet its 200 names a place on it
    notes = failed(judge(probes, values, [], False))
    assert notes["body_keys"] == "1 of 7 200s name another record than their click's"
    assert notes["click_on_topic"] == "not on the topic as the same JSON object (a record differs: see below)"
    for reply in probes.replies.values():  # every click sent to another topic: its 200 may well be true
        if reply.status == contract.OK:
            reply.body["topic"] = "click"
    assert failed(judge(probes, Records([], contract.TOPIC), [], False)) == {
        "click_on_topic": "not on the topic as the same JSON object",
        "clicks_in_order": "on the topic in this order: []",
        "rejects_write_nothing": "cannot be checked: nothing the grader sent reached Kafka",
    }


def test_a_plain_text_error_and_a_wrong_status_are_named_by_their_checks():
    probes, values = perfect()
    probes.replies["an unknown URL"] = Reply("POST /nowhere", status=404, body="<h1>Not Found</h1>")
    probes.replies["text/csv"] = answered("text/csv", contract.BAD_REQUEST)
    assert failed(judge(probes, values, [], False)) == {
        "json_errors": "1 error answers without a JSON error message",
        "content_type": f"1 of 2 got another answer than {contract.UNSUPPORTED_TYPE}",
    }


def test_a_cell_error_or_a_flooded_output_fails_runs_cleanly_alone():
    probes, values = perfect()
    assert failed(judge(probes, values, ["cell 12: NameError"], True)) == {
        "runs_cleanly": "cell 12: NameError; the output went over the grader's cap"
    }
