"""The classroom demo: a reader's clicks in headless Chromium, the live page reading them back from Kafka."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from test_demo_site_browser import BROWSER_DIR, require_browser_tools

from clickkit.broker.health import is_ready
from clickkit.broker.local import LocalKafka
from clickkit.broker.topics import read_topic
from clickkit.config import REPO_ROOT, load_settings
from clickkit.demo import run as demo_module
from clickkit.demo.run import Demo, banner
from clickkit.errors import KitError
from clickkit.ports import free_port_pair, port_is_open

DOCS_SCREENSHOT = REPO_ROOT / "docs" / "images" / "demo-live-page.png"
# The run writes its screenshot beside its other files; CLICKKIT_UPDATE_DOCS=1 also refreshes the docs' copy.
UPDATE_DOCS = os.environ.get("CLICKKIT_UPDATE_DOCS") == "1"
ROUNDS = 3  # clicks timed from the tracker to the live page
FIELDS = {"country": "visitor_country", "platform": "visitor_platform", "article": "article_title"}


@pytest.mark.timeout(150)
def test_the_live_page_shows_what_a_readers_clicks_put_on_the_topic(bootstrap_servers, topic, capsys, tmp_path):
    node = require_browser_tools()
    screenshot = tmp_path / "demo-live-page.png"
    demo = Demo("127.0.0.1", 0).start(bootstrap_servers, topic)
    try:
        tour = subprocess.run(
            [node, "demo_tour.mjs", demo.site_url, "--rounds", str(ROUNDS), "--screenshot", str(screenshot)],
            cwd=BROWSER_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        demo.stop()
    assert tour.returncode == 0, f"the browser tour failed:\n{tour.stdout[-3000:]}\n{tour.stderr[-3000:]}"
    report = json.loads(tour.stdout.strip().splitlines()[-1])
    shown = report["shown"]

    events = [json.loads(value) for value in read_topic(bootstrap_servers, topic)]
    # Brussels read to the bottom, then Ghent; then each round reads a page to the bottom and follows a link.
    assert report["tour"]["before"] == 0 and report["tour"]["events"] == 7, report["tour"]
    assert len(events) == 7 + ROUNDS * 6, json.dumps(events, indent=1)
    assert [e["article_title"] for e in events[:7]] == ["Brussels"] * 6 + ["Ghent"]
    assert shown["total"] == len(events)
    for name, field in FIELDS.items():
        assert dict(shown["counts"][name]) == Counter(e[field] for e in events), name
    assert [json.loads(line) for line in shown["events"]] == events[::-1][:10]
    assert shown["rejected"] == "0" and shown["chartBars"] > 0
    assert shown["status"] == f"reading {topic} at {bootstrap_servers}"
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    if UPDATE_DOCS:
        DOCS_SCREENSHOT.write_bytes(screenshot.read_bytes())
    # The demo stopped what it started, and not the broker it found running.
    assert is_ready(bootstrap_servers)
    with capsys.disabled():
        print(f"\nclick to live page, ms: {report['delays']}")


def read_until(lines: queue.Queue, pattern: str, seen: list, timeout_s: float) -> re.Match:
    """Return the first line matching the pattern that the demo prints, or fail with what it printed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    pytest.fail(f"the demo never printed {pattern!r}; it printed:\n{''.join(seen)}")


def running(pid: int) -> bool:
    """Tell whether the process runs: a zombie waiting for init to reap it has stopped already."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def update_showing(live_url: str, total: int) -> dict:
    """Return the first update of the live page's stream that counts `total` events, within 30 s."""
    deadline, text = time.monotonic() + 30, ""
    with requests.get(f"{live_url}stream", stream=True, timeout=15) as answer:
        for chunk in answer.iter_content(chunk_size=None, decode_unicode=True):
            text += chunk
            *messages, text = text.split("\n\n")
            for message in messages:
                update = json.loads(message.removeprefix("data: "))
                if update["total"] >= total or time.monotonic() > deadline:
                    return update
    pytest.fail(f"the live page's stream ended before counting {total} events: {text!r}")


@pytest.mark.timeout(180)
@pytest.mark.kafka  # starts a broker of its own
def test_the_demo_starts_kafka_when_none_answers_and_ctrl_c_stops_all_it_started(tmp_path):
    kafka_port = free_port_pair()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"localhost:{kafka_port}",
        "KAFKA_HOME_DIR": str(tmp_path / "kafka"),
        "CLICKS_TOPIC": "clicks",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "clickkit.demo.run", "--port", "0"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines, seen = queue.Queue(), []
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)], daemon=True
    ).start()
    pid_file = tmp_path / "kafka" / "single" / "node-1" / "broker.pid"
    try:
        read_until(lines, r"starting the kit's own", seen, 30)
        site = read_until(lines, r"the site:\s+(http://127\.0\.0\.1:\d+/)", seen, 150).group(1)
        live = read_until(lines, r"the live page:\s+(http://127\.0\.0\.1:\d+/live/)", seen, 10).group(1)
        read_until(lines, r"make demo ARGS='--host 0\.0\.0\.0'", seen, 10)
        click = {"article_title": "Ghent", "visitor_country": "BE", "visitor_platform": "mobile"}
        answer = requests.post(f"{site}clicks", json=click, timeout=15)
        assert answer.status_code == 200 and answer.json()["topic"] == "clicks", answer.text
        assert (
            requests.post(
                f"{site}clicks", data="{", headers={"Content-Type": "application/json"}, timeout=15
            ).status_code
            == 400
        )
        update = update_showing(live, 1)
        assert update["total"] == 1 and update["last"][0]["value"] == click
        assert update["answers"] == {"accepted": 1, "rejected": 1, "failed": 0}
        # The room reaches the pages, /clicks and the live page; the endpoint's other routes stay private.
        assert requests.get(f"{site}ghent.html", timeout=15).status_code == 200
        assert requests.get(f"{site}health", timeout=15).status_code == 404
        assert requests.post(f"{site}clicks/batch", json=[click], timeout=15).status_code in (404, 405)
        assert requests.post(f"{live}stream", timeout=15).status_code == 405
        broker_pid = int(pid_file.read_text())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
        # Whatever happened to the demo, leave no broker behind (a no-op when Ctrl+C stopped it).
        stopped_here = LocalKafka(tmp_path / "kafka" / "single", [kafka_port], load_settings().kafka_cache).stop()
    assert process.returncode == 0 and not stopped_here, f"Ctrl+C did not stop it all; it printed:\n{''.join(seen)}"
    read_until(lines, r"^Stopped\.", seen, 10)
    assert not running(broker_pid) and not port_is_open(kafka_port)
    assert not port_is_open(int(site.rsplit(":", 1)[1].strip("/")))


def test_a_busy_port_is_refused_before_anything_starts_with_what_to_do():
    first = Demo("127.0.0.1", 0)
    try:
        with pytest.raises(KitError, match=r"--port 8001"):
            Demo("127.0.0.1", first.port)
    finally:
        first.stop()


def fake_demo(host: str) -> SimpleNamespace:
    local = "127.0.0.1" if host == "0.0.0.0" else host
    return SimpleNamespace(
        host=host,
        port=8000,
        endpoint_url="http://127.0.0.1:5999/clicks",
        site_url=f"http://{local}:8000/",
        live_url=f"http://{local}:8000/live/",
    )


def test_the_banner_says_who_can_connect_and_draws_a_qr_code_only_for_the_room(monkeypatch):
    alone = banner(fake_demo("127.0.0.1"), "localhost:9092", "clicks", started_kafka=True)
    assert "started by the demo, stopped with it" in alone and "http://127.0.0.1:8000/live/" in alone
    assert "Only this machine can connect" in alone and "█" not in alone

    monkeypatch.setattr(demo_module, "room_addresses", lambda: ["192.168.1.20", "10.0.0.7"])
    room = banner(fake_demo("0.0.0.0"), "localhost:9092", "clicks", started_kafka=False)
    assert "already running, left running" in room
    assert "You chose --host 0.0.0.0" in room and "nothing else" in room
    assert "http://192.168.1.20:8000/" in room and "http://192.168.1.20:8000/live/" in room and "10.0.0.7" in room
    qr = [line for line in room.splitlines() if "█" in line]
    assert len(qr) > 10 and len({len(line) for line in qr}) == 1  # a square block, every line as wide

    monkeypatch.setattr(demo_module, "room_addresses", lambda: [])
    assert "no network address" in banner(fake_demo("0.0.0.0"), "localhost:9092", "clicks", started_kafka=False)


def test_the_site_alone_on_a_busy_port_says_what_to_do_instead_of_exiting(capsys):
    from clickkit.demo import site

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert site.main(["--port", str(taken.getsockname()[1]), "--url", "http://127.0.0.1:9/clicks"]) == 1
    assert "is busy. Stop the program on it, or choose another port" in capsys.readouterr().err
