"""The demo site in headless Chromium: the tracker's events reach a real Kafka topic through the endpoint."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from flask import Flask

from clickkit import schema
from clickkit.demo.site import create_site, points_at_itself
from clickkit.course.notebook_server import BackgroundServer
from clickkit.ingest import app as ingest_app
from clickkit.broker.topics import read_topic

BROWSER_DIR = Path(__file__).parents[1] / "browser"
CHROMIUM = "/usr/bin/chromium"


def require_browser_tools() -> str:
    """Return node's path, or fail saying what to install (a missing tool is a failure, not a skip)."""
    node = shutil.which("node")
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium: apt-get update && apt-get install -y chromium")
    if node is None:
        missing.append("Node.js 18+: apt-get install -y nodejs npm")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append(f"playwright-core: cd {BROWSER_DIR} && npm ci")
    if missing:
        pytest.fail("The browser test needs " + "; ".join(missing) + " (or run .ci/run, which installs them).")
    return node


@pytest.mark.timeout(150)
def test_reading_an_article_in_chromium_sends_sensible_events_to_kafka(bootstrap_servers, topic):
    node = require_browser_tools()
    solution = ingest_app
    app = solution.create_app({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    endpoint = BackgroundServer(app, port=0).start()
    site = BackgroundServer(create_site(f"{endpoint.url}/clicks"), port=0).start()
    started_ms = int(time.time() * 1000)
    try:
        tour = subprocess.run([node, "tour.mjs", site.url], cwd=BROWSER_DIR, capture_output=True, text=True,
                              timeout=90)
    finally:
        site.stop()
        endpoint.stop()
        solution.close_producer(app)
    assert tour.returncode == 0, f"the browser tour failed:\n{tour.stdout}\n{tour.stderr[-3000:]}"
    report = json.loads(tour.stdout.strip().splitlines()[-1])
    assert report["atBottom"] and report["scrollHeight"] > 720 * 2
    assert report["answers"] and set(report["answers"]) == {200}, report["answers"]

    # Every tracker request got its 200 (checked above), so every event is on the topic already.
    events = [json.loads(value) for value in read_topic(bootstrap_servers, topic)]
    brussels = [e for e in events if e["article_title"] == "Brussels"]
    ghent = [e for e in events if e["article_title"] == "Ghent"]
    # Brussels: open, 25/50/75/100 % and the link click; Ghent: open.
    assert len(brussels) == 6 and len(ghent) == 1, json.dumps(events, indent=1)
    assert all(e["article"] == "https://en.wikipedia.org/wiki/Brussels" for e in brussels)
    assert ghent[0]["article"] == "https://en.wikipedia.org/wiki/Ghent"
    # The tracker's requests run concurrently, so they may reach Kafka out of order: sort by page time.
    opened, *scrolls, clicked = sorted(brussels, key=lambda e: (e["visitor_page_timer"], e["visitor_page_height"]))
    assert opened["visitor_page_timer"] == 0 and opened["visitor_page_height"] == 0
    heights = [e["visitor_page_height"] for e in scrolls + [clicked]]
    assert heights == sorted(heights) and heights[0] > 0
    assert 0 < clicked["visitor_page_timer"] < 60_000  # ms
    assert ghent[0]["visitor_page_timer"] == 0 and ghent[0]["visitor_page_height"] == 0
    for event in events:
        assert schema.problems(event) == [], event  # the tracker sends exactly the schema's fields and types
        assert started_ms - 5_000 < event["ts_ingest"] < started_ms + 120_000
        assert (event["visitor_platform"], event["visitor_os"], event["visitor_browser"]) == (
            "desktop", "linux", "chrome")
        assert event["visitor_country"] == "BE"
    # Each event is born with an id of its own (schema.problems() above checks that it is a UUID).
    assert len({event[schema.EVENT_ID] for event in events}) == len(events), json.dumps(events, indent=1)


def test_the_site_forwards_clicks_and_says_what_to_do_when_the_endpoint_is_down():
    upstream = Flask("upstream")
    upstream.post("/clicks")(lambda: ({"status": "stored", "offset": 3}, 200))
    server = BackgroundServer(upstream, port=0).start()
    try:
        client = create_site(f"{server.url}/clicks").test_client()
        answer = client.post("/clicks", json={"article_title": "Ghent"})
        assert answer.status_code == 200 and answer.get_json() == {"status": "stored", "offset": 3}
        assert client.get("/").status_code == 200 and b"tracker" not in client.get("/").data
        page = client.get("/ghent.html")
        assert page.status_code == 200 and b'src="tracker.js"' in page.data
    finally:
        server.stop()
    answer = create_site("http://127.0.0.1:9/clicks").test_client().post("/clicks", json={})
    assert answer.status_code == 502 and "Start it" in answer.get_json()["error"]


def test_the_site_refuses_to_forward_to_itself():
    assert points_at_itself("http://localhost:8000/clicks", "127.0.0.1", 8000)
    assert not points_at_itself("http://localhost:5000/clicks", "127.0.0.1", 8000)
