"""make demo ARGS=--lag: a processing group the teacher stops and restarts, and its lag on the live page."""

import json
import time
import uuid

import pytest
import requests

from clickkit.broker.topics import admin
from clickkit.demo.run import Demo, banner, wait_for_the_teacher
from clickkit.demo.tally import WINDOW_S, LiveTotals


def test_the_tally_keeps_the_lag_of_the_last_minute_and_says_when_it_cannot_be_read():
    tally = LiveTotals("clicks", "localhost:9092", "now")
    assert tally.snapshot()["lag"] is None  # no --lag: the page shows no lag at all
    tally.report_lag("processing", 12, "stopped")
    lag = tally.snapshot()["lag"]
    assert (lag["group"], lag["now"], lag["state"], lag["problem"]) == ("processing", 12, "stopped", "")
    assert len(lag["per_second"]) == WINDOW_S and lag["per_second"][-1] == 12
    tally.report_lag("processing", None, "running", "the lag cannot be read: broker gone")
    lag = tally.snapshot(now_s=time.time() + WINDOW_S)["lag"]
    assert lag["now"] is None and "broker gone" in lag["problem"] and set(lag["per_second"]) == {None}
    json.dumps(tally.snapshot())


def lag_update(live_url: str, condition, what: str, timeout_s: float = 60.0) -> dict:
    """Return the first update of the live page whose lag meets the condition, or fail saying what was seen."""
    deadline, text, last = time.monotonic() + timeout_s, "", None
    with requests.get(f"{live_url}stream", stream=True, timeout=15) as answer:
        for chunk in answer.iter_content(chunk_size=None, decode_unicode=True):
            text += chunk
            *messages, text = text.split("\n\n")
            for message in messages:
                last = json.loads(message.removeprefix("data: "))["lag"]
                if last is not None and condition(last):
                    return last
            if time.monotonic() > deadline:
                break
    pytest.fail(f"the live page never showed {what} within {timeout_s:.0f} s; last: {last}")


@pytest.mark.timeout(150)
def test_stopping_the_processing_group_builds_a_backlog_on_the_live_page_and_restarting_drains_it(
        bootstrap_servers, topic):
    group = f"test-demo-processing-{uuid.uuid4().hex[:8]}"
    demo = Demo("127.0.0.1", 0).start(bootstrap_servers, topic, lag_group=group, process=True)
    click = {"article_title": "Ghent", "visitor_country": "BE", "event_id": str(uuid.uuid4())}
    try:
        assert f"consumer group {group}" in banner(demo, bootstrap_servers, topic, started_kafka=False)
        assert requests.post(f"{demo.site_url}clicks", json=click, timeout=15).status_code == 200
        lag_update(demo.live_url, lambda lag: lag["now"] == 0 and demo.processing.processed >= 1 and
                   lag["state"] == "running", "the running group caught up")
        wait_for_the_teacher(demo, lines=["\n"])  # the teacher presses Enter: the processing stops
        assert not demo.processing.running
        for _ in range(5):
            assert requests.post(f"{demo.site_url}clicks", json=click, timeout=15).status_code == 200
        stopped = lag_update(demo.live_url, lambda lag: lag["now"] == 5, "a backlog of 5")
        assert stopped["state"] == "stopped"
        wait_for_the_teacher(demo, lines=["\n"])  # Enter again: it carries on from its committed offset
        lag_update(demo.live_url, lambda lag: lag["now"] == 0 and lag["state"] == "running", "the backlog drained")
        assert demo.processing.processed == 6  # each click once: the group restarted where it had committed
    finally:
        demo.stop()
        with admin(bootstrap_servers) as client:  # on a broker the suite did not start, leave no group behind
            client.delete_groups([group])
    assert not demo.processing.running
