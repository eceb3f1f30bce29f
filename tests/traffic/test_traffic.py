"""Unit tests of the traffic generator: distributions, determinism, encodings, pacing and the CLI."""

import io
import json
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import unquote

import pytest

from clickkit.schema import EVENT_ID, is_uuid
from clickkit.traffic.generate import DEFAULT_START_MS, FIELDS, OSES, clicks, Dirt, article_url, generate, load_titles, take
from clickkit.traffic.send import Summary, paced, send

SAMPLE = take(generate(seed=7), 6000)


def share(events, field, value):
    return sum(event[field] == value for event in events) / len(events)


def test_same_seed_gives_the_same_events_and_another_seed_does_not():
    assert take(generate(seed=7), 6000) == SAMPLE
    assert take(generate(seed=8), 50) != SAMPLE[:50]


def test_stdout_mode_is_byte_identical_for_the_same_seed_and_count():
    command = [sys.executable, "-m", "clickkit.traffic", "--mode", "stdout", "--count", "300", "--seed", "5"]
    runs = [subprocess.run(command, capture_output=True, timeout=60) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    lines = runs[0].stdout.decode("utf-8").splitlines()
    assert len(lines) == 300
    assert [json.loads(line) for line in lines] == take(generate(seed=5), 300)


def test_every_event_has_the_nine_fields_with_the_right_types_then_its_event_id():
    for event in SAMPLE:
        assert tuple(event) == FIELDS + (EVENT_ID,)
        assert isinstance(event["ts_ingest"], int)
        assert isinstance(event["visitor_page_timer"], int) and isinstance(event["visitor_page_height"], int)


def test_every_click_is_born_with_an_id_of_its_own_that_dirt_never_touches():
    assert all(is_uuid(event[EVENT_ID]) for event in SAMPLE)
    assert len({event[EVENT_ID] for event in SAMPLE}) == len(SAMPLE)
    dirty = take(generate(seed=7, dirt=Dirt(nulls=0.3, missing=0.3, burst=0.01, burst_size=5)), 3000)
    assert all(is_uuid(event[EVENT_ID]) for event in dirty) and len({e[EVENT_ID] for e in dirty}) == 3000
    # The ids come from a random generator of their own: adding them changed no other value of a seed.
    without_ids = take(clicks(7, DEFAULT_START_MS, Dirt()), 50)
    assert [{k: v for k, v in e.items() if k != EVENT_ID} for e in SAMPLE[:50]] == without_ids
    assert [e[EVENT_ID] for e in take(generate(seed=7), 50)] == [e[EVENT_ID] for e in SAMPLE[:50]]


def test_ts_ingest_is_in_milliseconds_and_the_simulated_traffic_is_about_as_dense_as_the_real_log():
    start = 1_700_000_000_000
    events = take(generate(seed=1, start_ms=start), 1633)
    span_s = (max(e["ts_ingest"] for e in events) - start) / 1000
    assert 1_600_000_000_000 < events[0]["ts_ingest"] < 2_000_000_000_000  # ms, not s or µs
    assert 40 < span_s < 400  # the real log: 1,633 lines in about 2 minutes


def test_one_country_dominates_like_on_a_regional_site():
    countries = Counter(event["visitor_country"] for event in SAMPLE)
    assert countries.most_common(1)[0][0] == "BE"
    assert 0.70 < share(SAMPLE, "visitor_country", "BE") < 0.92  # real log: 1,340 of 1,633
    assert len(countries) >= 5
    assert all(len(code) == 2 and code.isupper() for code in countries)


def test_platforms_follow_the_real_mix():
    assert 0.50 < share(SAMPLE, "visitor_platform", "mobile") < 0.68  # real: 939 / 1,592
    assert 0.17 < share(SAMPLE, "visitor_platform", "desktop") < 0.32
    assert 0.09 < share(SAMPLE, "visitor_platform", "tablet") < 0.24


def test_platform_os_and_browser_fit_together():
    combos = {(e["visitor_platform"], e["visitor_os"], e["visitor_browser"]) for e in SAMPLE}
    for platform, os_name, browser in combos:
        assert os_name in OSES[platform]
        if os_name == "ios":
            assert platform in ("mobile", "tablet")
        if os_name in ("windows", "mac os x", "linux"):
            assert platform == "desktop"
        if browser == "safari":
            assert os_name in ("ios", "mac os x")
    assert {"ios", "android", "windows", "mac os x", "linux"} <= {combo[1] for combo in combos}


def test_sessions_open_at_zero_then_scroll_down_as_time_passes():
    pages = {}
    for event in SAMPLE:  # one visitor's page view: the same article and visitor, in time order
        key = (event["article"], *(event[f] for f in FIELDS[5:]))
        pages.setdefault(key, []).append(event)
    opened = [views for views in pages.values() if views[0]["visitor_page_timer"] == 0]
    assert len(opened) > 500
    scrolled = 0
    for views in opened:
        first, *later = views
        assert first["visitor_page_height"] == 0
        if later and later[0]["visitor_page_timer"] > 0:
            scrolled += 1
            assert later[0]["visitor_page_height"] > 0
            assert later[0]["ts_ingest"] - first["ts_ingest"] == later[0]["visitor_page_timer"]
    assert scrolled > 200
    assert max(e["visitor_page_timer"] for e in SAMPLE) > 30_000  # ms: minutes on a page, like the real log


def test_readers_follow_links_to_many_articles_popular_ones_more_often():
    titles = Counter(event["article_title"] for event in SAMPLE if event["visitor_page_timer"] == 0)
    assert len(titles) > 150
    ranking = load_titles()
    top, tail = ranking[:20], ranking[-100:]
    assert sum(titles[t] for t in top) > sum(titles[t] for t in tail)


@pytest.mark.parametrize("title, url", [
    ("Cercanías San Sebastián", "https://en.wikipedia.org/wiki/Cercan%C3%ADas_San_Sebasti%C3%A1n"),
    ("AT&T", "https://en.wikipedia.org/wiki/AT%26T"),
    ("Who's Afraid of Virginia Woolf?", "https://en.wikipedia.org/wiki/Who%27s_Afraid_of_Virginia_Woolf%3F"),
    ("AC/DC", "https://en.wikipedia.org/wiki/AC/DC"),
    ("C++", "https://en.wikipedia.org/wiki/C%2B%2B"),
    ("100% pure", "https://en.wikipedia.org/wiki/100%25_pure"),
    ("Spa, Belgium", "https://en.wikipedia.org/wiki/Spa,_Belgium"),
])
def test_article_urls_are_percent_encoded(title, url):
    assert article_url(title) == url


def test_every_shipped_title_round_trips_through_its_url():
    titles = load_titles()
    assert len(titles) >= 300 and len(set(titles)) == len(titles)
    for title in titles:
        url = article_url(title)
        assert url.isascii() and " " not in url
        assert unquote(url.removeprefix("https://en.wikipedia.org/wiki/")).replace("_", " ") == title
    for event in SAMPLE:
        assert event["article"] == article_url(event["article_title"])


def test_no_dirt_unless_asked():
    assert all(None not in event.values() and event["visitor_country"].isupper() for event in SAMPLE)
    assert not any("/admin" in event["article"] for event in SAMPLE)


def test_each_kind_of_dirt_appears_at_about_its_rate():
    dirt = Dirt(nulls=0.1, lowercase=0.2, missing=0.05, probes=0.03)
    events = take(generate(seed=3, dirt=dirt), 5000)
    nulls = sum(None in event.values() for event in events) / len(events)
    missing = sum(len(event) < len(FIELDS) + 1 for event in events) / len(events)
    lower = sum(isinstance(e.get("visitor_country"), str) and e["visitor_country"].islower() for e in events)
    probes = sum("wikipedia.org/wiki/" not in str(e.get("article")) and e.get("article") is not None for e in events)
    assert 0.07 < nulls < 0.13
    assert 0.03 < missing < 0.07
    assert 0.15 < lower / len(events) < 0.25
    assert 0.015 < probes / len(events) < 0.045


def test_a_burst_is_one_visitor_hammering_one_page():
    events = take(generate(seed=4, dirt=Dirt(burst=0.002, burst_size=40)), 3000)
    visitors = Counter(tuple(e[f] for f in FIELDS[1:3] + FIELDS[5:]) for e in events)
    (_, hits), = visitors.most_common(1)
    assert hits >= 40
    assert take(generate(seed=4), 3000) != events


def test_paced_stops_at_the_count_or_the_duration_and_keeps_the_rate():
    assert len(list(paced(iter(range(100)), count=10))) == 10
    started = time.monotonic()
    sent = list(paced(iter(range(10_000)), duration_s=0.5, rate=40))
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 3
    assert 10 <= len(sent) <= 21  # 40/s for 0.5 s, give or take a late tick on a busy machine


def test_stdout_sending_accounts_for_every_event():
    out = io.StringIO()
    summary = send(take(generate(seed=2), 25), mode="stdout", out=out)
    assert summary.counts() == {"sent": 25, "accepted": 25, "rejected": 0, "retried": 0, "failed": 0}
    assert summary.ok and len(out.getvalue().splitlines()) == 25


def test_an_unreachable_endpoint_fails_fast_and_says_what_to_do():
    summary = send(take(generate(seed=2), 50), mode="http", url="http://127.0.0.1:9/clicks", concurrency=2,
                   progress=False)
    assert not summary.ok and summary.accepted == 0
    assert summary.failed == summary.sent < 50  # it stopped instead of retrying for minutes
    assert summary.retried >= summary.failed
    assert "is the endpoint running" in str(summary)


def test_summary_is_ok_only_when_everything_was_accepted():
    assert Summary(sent=3, accepted=3).ok
    assert not Summary(sent=3, accepted=2, rejected=1).ok
    assert not Summary().ok


def test_the_cli_refuses_bad_options_with_a_message():
    run = subprocess.run([sys.executable, "-m", "clickkit.traffic", "--null-rate", "5"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "between 0 and 1" in run.stderr
