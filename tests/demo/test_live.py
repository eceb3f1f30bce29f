"""The live page's parts: the tally of what was read, the endpoint's answers, the consumer on a real topic."""

import json
import time
import uuid

import pytest
from flask import Flask
from kafka import KafkaProducer

from clickkit.demo.answers import Answers, counting_answers
from clickkit.demo.live import LiveFeed, create_live_app
from clickkit.demo.tally import LAST_EVENTS, TOP, WINDOW_S, LiveTotals
from clickkit.errors import LiveError


def record(tally, offset, value, timestamp_ms):
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    tally.add(0, offset, timestamp_ms, raw)


def test_the_tally_counts_dirty_events_as_they_are_and_keeps_the_last_ten_newest_first():
    tally, now = LiveTotals("clicks", "localhost:9092", "now"), 1_000_000
    events = [{"visitor_country": "BE", "visitor_platform": "mobile", "article_title": "Ghent"}] * 11 + [
        {"visitor_country": None, "visitor_platform": "desktop", "article_title": "Ghent"},
        {"visitor_country": "be", "article": "https://en.wikipedia.org/wiki/Atomium"},
    ]
    for offset, event in enumerate(events):
        record(tally, offset, event, now * 1000)
    record(tally, 13, b"not json \xff", now * 1000)
    record(tally, 14, [1, 2], now * 1000)
    snapshot = tally.snapshot(now_s=now)
    assert snapshot["total"] == 15 and snapshot["not_json"] == 2
    assert snapshot["counts"]["country"]["rows"] == [("BE", 11), ("be", 1), ("null", 1)]
    assert snapshot["counts"]["platform"]["rows"] == [("mobile", 11), ("(missing)", 1), ("desktop", 1)]
    # Without a title, the article's URL names it.
    assert snapshot["counts"]["article"]["rows"] == [("Ghent", 12), ("https://en.wikipedia.org/wiki/Atomium", 1)]
    last = snapshot["last"]
    assert len(last) == LAST_EVENTS and [r["offset"] for r in last] == list(range(14, 4, -1))
    assert last[0] == {"partition": 0, "offset": 14, "json": False, "value": "[1, 2]"}
    assert last[1]["value"] == "not json \ufffd" and last[2]["value"] == events[12]
    json.dumps(snapshot)  # all of it goes to the page as JSON


def test_the_chart_covers_the_last_minute_by_the_records_own_time():
    tally, now = LiveTotals("clicks", "localhost:9092", "now"), 2_000_000
    for offset, age_s in enumerate([0, 0, 5, WINDOW_S - 1, WINDOW_S, 3600]):
        record(tally, offset, {}, (now - age_s) * 1000 + 500)
    record(tally, 6, {}, (now + 30) * 1000)  # a clock ahead of ours: shown as arriving now
    seconds = tally.snapshot(now_s=now)["per_second"]
    assert len(seconds) == WINDOW_S and sum(seconds) == 5
    assert seconds[-1] == 3 and seconds[-6] == 1 and seconds[0] == 1


def test_long_tails_are_summed_as_others():
    tally = LiveTotals("clicks", "localhost:9092", "now")
    for offset in range(TOP + 3):
        record(tally, offset, {"article_title": f"article {offset:02}"}, int(time.time() * 1000))
    articles = tally.snapshot()["counts"]["article"]
    assert len(articles["rows"]) == TOP and articles["others"] == 3 and articles["distinct"] == TOP + 3


def test_waiting_for_a_change_returns_as_soon_as_a_record_is_counted():
    tally = LiveTotals("clicks", "localhost:9092", "now")
    version = tally.wait(-1, timeout_s=0)
    assert tally.wait(version, timeout_s=0.01) == version  # nothing new
    record(tally, 0, {}, 1)
    assert tally.wait(version, timeout_s=60) == version + 1


def test_answers_to_the_sites_clicks_are_counted_by_status():
    site = Flask("site")
    site.post("/clicks", endpoint="clicks")(lambda: ({"ok": True}, 200))
    site.post("/other", endpoint="other")(lambda: ({"ok": True}, 200))
    answers = Answers()
    site.wsgi_app = counting_answers(site.wsgi_app, answers)
    client = site.test_client()
    assert client.post("/clicks").status_code == 200 and client.post("/other").status_code == 200
    assert client.get("/clicks").status_code == 405  # a GET is no click: not counted
    for status in (400, 413, 502, 503):
        answers.record(status)
    assert answers.snapshot() == {"accepted": 1, "rejected": 2, "failed": 2}


def send(bootstrap_servers, topic, values):
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", max_block_ms=15000)
    try:
        for value in values:
            producer.send(topic, value).get(timeout=15)
    finally:
        producer.close(timeout=5)


def wait_for_total(feed, total):
    version, deadline = -1, time.monotonic() + 60
    while feed.tally.snapshot()["total"] < total and time.monotonic() < deadline:
        version = feed.tally.wait(version, timeout_s=1)
    return feed.tally.snapshot()


def test_the_feed_counts_what_is_sent_after_it_started_or_everything_when_asked(bootstrap_servers, topic):
    send(bootstrap_servers, topic, [b'{"article_title": "before"}'])
    from_now = LiveFeed(bootstrap_servers, topic).start()
    everything = LiveFeed(bootstrap_servers, topic, from_beginning=True).start()
    try:
        send(bootstrap_servers, topic, [b'{"article_title": "after"}', b"plain text"])
        assert wait_for_total(everything, 3)["total"] == 3
        snapshot = wait_for_total(from_now, 2)
        assert snapshot["total"] == 2 and snapshot["not_json"] == 1
        assert snapshot["counts"]["article"]["rows"] == [("after", 1)]
        assert snapshot["kafka_error"] == ""
    finally:
        from_now.stop()
        everything.stop()


def test_the_feed_says_what_to_do_when_the_topic_does_not_exist(bootstrap_servers):
    with pytest.raises(LiveError, match="CLICKS_TOPIC"):
        LiveFeed(bootstrap_servers, f"no-such-topic-{uuid.uuid4().hex[:8]}").start()


def test_the_live_app_is_read_only_and_loads_nothing_from_elsewhere(bootstrap_servers, topic):
    feed = LiveFeed(bootstrap_servers, topic).start()
    try:
        client = create_live_app(feed).test_client()
        page = client.get("/")
        assert page.status_code == 200 and b'src="static/live.js"' in page.data
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert client.get("/static/live.js").status_code == 200
        for method in (client.post, client.put, client.delete):
            assert method("/").status_code == 405 and method("/stream").status_code == 405
    finally:
        feed.stop()
