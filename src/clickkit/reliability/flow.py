"""Post clicks that carry an id, count the answers, and check the ids against the topic afterwards."""

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

from clickkit.broker.audit import Audit, count_ids, reconcile
from clickkit.traffic.generate import generate

# The hang guard: far above the contract's 503 bound (contract.UNAVAILABLE_WITHIN_S), so only a hang hits it.
HTTP_TIMEOUT_S = 30
MAX_CLICKS_PER_FLOW = 10_000  # with the waits' deadlines, keeps every scenario bounded in count and time


@dataclass
class Tally:
    """What one scenario sent, what came back, and what the topic holds afterwards."""

    scenario: str
    statuses: Counter = field(default_factory=Counter)
    sent: set = field(default_factory=set)  # the click_id of every click posted
    acknowledged: set = field(default_factory=set)
    unanswered: int = 0  # connections refused or reset: no answer, so no promise was made
    problems: list = field(default_factory=list)  # broken promises of the contract, in words
    facts: dict = field(default_factory=dict)  # figures worth printing, e.g. the slowest 503
    audit: Audit | None = None  # what the topic held afterwards
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def acknowledged_missing(self) -> int:
        return self.audit.missing if self.audit else 0

    @property
    def duplicates(self) -> int:
        return self.audit.duplicates if self.audit else 0

    def count(self, low: int) -> int:
        """Return how many answers had a status in low..low+99."""
        return sum(n for status, n in self.statuses.items() if low <= status < low + 100)

    def row(self) -> dict:
        """Return this scenario's row of the report."""
        return {
            "scenario": self.scenario,
            "requests": sum(self.statuses.values()) + self.unanswered,
            "2xx": self.count(200),
            "4xx": self.count(400),
            "5xx": self.count(500),
            "acknowledged_missing": self.acknowledged_missing,
            "duplicates": self.duplicates,
        }

    def record(self, response, seconds: float, click_id=None) -> None:
        """Count one answer and note any way it breaks the endpoint's contract."""
        with self.lock:
            if response is None:
                self.unanswered += 1
                return
            status = response.status_code
            self.statuses[status] += 1
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self.problems.append(f"{status} answer without a JSON object body: {response.text[:80]!r}")
            elif status == 200 and click_id is not None:
                self.acknowledged.add(click_id)
            elif status >= 400 and not body.get("error"):
                self.problems.append(f"{status} answer without an error message: {body}")
            if status >= 500:
                self.facts["slowest_503_s"] = round(max(seconds, self.facts.get("slowest_503_s", 0.0)), 2)
                if status != 503 or not response.headers.get("Retry-After"):
                    self.problems.append(f"{status} answer (want 503 with Retry-After): {response.text[:80]!r}")


def post(url: str, body: bytes, content_type="application/json", tally=None, click_id=None, method="POST"):
    """Send one request; return the response, or None when the server did not answer."""
    headers = {"Content-Type": content_type} if content_type else {}
    started = time.monotonic()
    try:
        response = requests.request(method, url, data=body, headers=headers, timeout=HTTP_TIMEOUT_S)
    except requests.Timeout:
        response = None
        if tally is not None:
            tally.problems.append(f"no answer within {HTTP_TIMEOUT_S} s: the endpoint hangs")
    except requests.ConnectionError:
        response = None
    if tally is not None:
        tally.record(response, time.monotonic() - started, click_id)
    return response


class Flow:
    """Post generated clicks, each with a fresh `click_id`, from a few threads until stopped."""

    def __init__(self, url: str, tally: Tally, threads: int = 2, seed: int = 6):
        self.url, self.tally = url, tally
        self._events, self._events_lock = generate(seed), threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "Flow":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HTTP_TIMEOUT_S + 5)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.tally.sent) < MAX_CLICKS_PER_FLOW:
            answered = send_click(self.url, self.tally, self._next_event()) is not None
            time.sleep(0.01 if answered else 0.2)  # a steady flow, not a load test; slower while refused

    def _next_event(self) -> dict:
        with self._events_lock:
            return next(self._events)

    def wait(self, condition, timeout_s: float, what: str) -> bool:
        """Wait until condition(tally) holds; note a problem if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition(self.tally):
                return True
            time.sleep(0.1)
        self.tally.problems.append(f"gave up after {timeout_s:.0f} s waiting for {what}")
        return False


def send_click(url: str, tally: Tally, event: dict):
    """Post one click with a fresh id and record the answer."""
    click_id = uuid.uuid4().hex
    with tally.lock:
        tally.sent.add(click_id)
    body = json.dumps({**event, "click_id": click_id}).encode()
    return post(url, body, tally=tally, click_id=click_id)


def audit(bootstrap_servers: str, topic: str, *tallies: Tally) -> None:
    """Read the topic back and give each tally its audit: missing and duplicated acknowledged events."""
    ids = count_ids(bootstrap_servers, topic, "click_id")
    strangers = set(ids) - set().union(*(tally.sent for tally in tallies))
    if strangers:
        tallies[0].problems.append(
            f"{sum(ids[i] for i in strangers)} records on {topic} that no scenario sent, or without a click_id"
        )
    for tally in tallies:
        tally.audit = reconcile(tally.acknowledged, ids, sent=tally.sent)
        tally.facts["unacknowledged_on_topic"] = tally.audit.unacknowledged_on_topic
