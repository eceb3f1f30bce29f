"""Notebook 04's helpers: where its clicks enter Kafka (the 01 endpoint when it works), and the lag sampler."""

import json

import pytest

from clickkit.broker.topics import admin, read_topic
from clickkit.config import REPO_ROOT, load_settings
from clickkit.course.stream import LagSampler, click_source
from clickkit.errors import UnknownTopic
from clickkit.schema import EVENT_ID
from clickkit.traffic.generate import generate, take


def send_through(source, events):
    source.start()
    try:
        return source.send(events)
    finally:
        source.close()


def probe_topics_left(bootstrap_servers, settings):
    with admin(bootstrap_servers) as client:
        return [name for name in client.list_topics() if name.startswith(f"{settings.topic}-probe-")]


def test_a_finished_01_endpoint_carries_the_clicks(bootstrap_servers, topic, capsys):
    settings = load_settings()
    source = click_source(settings, topic, REPO_ROOT / "solutions" / "01-ingest-api.ipynb")
    assert source.through_endpoint, source.why_not
    clicks = take(generate(seed=9), 25)
    summary = send_through(source, clicks)
    assert summary.accepted == 25
    assert "through your endpoint from 01, at http://127.0.0.1:" in capsys.readouterr().out
    stored = [json.loads(value) for value in read_topic(bootstrap_servers, topic)]
    assert sorted(click[EVENT_ID] for click in stored) == sorted(click[EVENT_ID] for click in clicks)
    assert probe_topics_left(bootstrap_servers, settings) == []


@pytest.mark.parametrize("notebook, reason", [
    ("notebooks/01-ingest-api.ipynb", "POST /clicks answered 501"),  # the untouched exercise
    ("nowhere/01-ingest-api.ipynb", "was not found"),
])
def test_an_unfinished_or_missing_endpoint_leaves_the_clicks_to_the_kafka_mode(bootstrap_servers, topic, notebook,
                                                                               reason, capsys):
    source = click_source(load_settings(), topic, REPO_ROOT / notebook)
    assert not source.through_endpoint and reason in source.why_not, source.why_not
    summary = send_through(source, take(generate(seed=10), 15))
    shown = capsys.readouterr().out
    assert "is not used" in shown and reason in shown and "straight to Kafka" in shown
    assert summary.accepted == 15 and len(read_topic(bootstrap_servers, topic)) == 15


def test_the_sampler_sees_the_lag_grow_and_refuses_a_missing_topic(bootstrap_servers, topic, topic_prefix):
    sampler = LagSampler(bootstrap_servers, topic, "a-group-that-never-reads").start()
    try:
        assert sampler.samples[0][1] == 0
        send_through(click_source(load_settings(), topic, REPO_ROOT / "nowhere.ipynb"), take(generate(seed=11), 40))
        assert sampler.wait_for(lambda samples: samples[-1][1] == 40, timeout_s=30), sampler.samples[-3:]
    finally:
        samples = sampler.stop()
    assert [seconds for seconds, _ in samples] == sorted(seconds for seconds, _ in samples)
    assert sampler.error is None
    with pytest.raises(UnknownTopic):
        LagSampler(bootstrap_servers, f"{topic_prefix}no-such-topic", "any").start()
