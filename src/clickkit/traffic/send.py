"""Send click events over HTTP, straight to Kafka, or to stdout, and account for every one of them."""

import json
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

from clickkit import contract
from clickkit.course.notebook_server import cell_output

RETRIED_STATUSES = (500, 502, 503, 504)
GIVE_UP_AFTER = 3  # events in a row that found no endpoint, each after all its retries


@dataclass
class Summary:
    """What happened to the events: each one sent ends up accepted, rejected or failed."""

    sent: int = 0
    accepted: int = 0  # 2xx, or acknowledged by Kafka
    rejected: int = 0  # 4xx: retrying would not help
    retried: int = 0  # extra attempts after a connection error or a 5xx
    failed: int = 0  # still not accepted after every retry
    elapsed_s: float = 0.0
    problems: list = field(default_factory=list)  # the first few error messages, to show the user

    @property
    def ok(self) -> bool:
        """Tell whether every event sent was accepted."""
        return self.sent > 0 and self.accepted == self.sent

    def counts(self) -> dict:
        """Return the counts alone (no timing), for tests and reproducible notebook output."""
        return {name: getattr(self, name) for name in ("sent", "accepted", "rejected", "retried", "failed")}

    def note(self, problem: str) -> None:
        if len(self.problems) < 5 and problem not in self.problems:
            self.problems.append(problem)

    def __str__(self) -> str:
        rate = self.sent / self.elapsed_s if self.elapsed_s else 0.0
        counts = ", ".join(f"{name} {value}" for name, value in self.counts().items())
        lines = [f"{counts} in {self.elapsed_s:.1f} s ({rate:.0f} events/s)"]
        lines += [f"  e.g. {problem}" for problem in self.problems]
        return "\n".join(lines)


def paced(events, count=None, duration_s=None, rate=0.0):
    """Yield events at `rate` per second (0 = as fast as possible) until `count` or `duration_s` is reached."""
    start = time.monotonic()
    for index, event in enumerate(events):
        if count is not None and index >= count:
            return
        if rate > 0:
            time.sleep(max(0.0, start + index / rate - time.monotonic()))
        if duration_s is not None and time.monotonic() - start >= duration_s:
            return
        yield event


class HttpSender:
    """POST events to the endpoint, retrying connection errors and 5xx with a growing backoff."""

    def __init__(self, url: str, retries: int = 5, backoff_s: float = 0.2, timeout_s: float = 10.0):
        self.url, self.timeout_s = url, timeout_s
        # urllib3 does the retrying and honours the endpoint's Retry-After; allowed_methods=None lets it retry POST.
        self.retry = Retry(
            total=retries,
            connect=3,
            backoff_factor=backoff_s,
            backoff_max=5,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=None,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        self.local = threading.local()  # one requests.Session per thread: sessions are not thread-safe
        self.unreachable_in_a_row = 0  # a few in a row mean nothing listens: stop instead of retrying for ages

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.mount(self.url, HTTPAdapter(max_retries=self.retry))
        return self.local.session

    def send(self, event, summary: Summary, lock: threading.Lock) -> None:
        """Send one event and record its outcome."""
        try:
            response = self.session().post(self.url, json=event, timeout=(3.05, self.timeout_s))
        except requests.RequestException as error:
            with lock:
                summary.failed += 1
                summary.retried += self.retry.connect
                self.unreachable_in_a_row += 1
                summary.note(
                    f"No answer from {self.url} ({type(error).__name__}): is the endpoint running? "
                    "Start it, or point --url (INGEST_URL) at it."
                )
            return
        with lock:
            self.unreachable_in_a_row = 0
            summary.retried += len(response.raw.retries.history) if response.raw.retries else 0
            if response.ok:
                summary.accepted += 1
            elif 400 <= response.status_code < 500:
                summary.rejected += 1
                summary.note(f"{response.status_code}: {response.text.strip()[:200]}")
            else:
                summary.failed += 1
                summary.note(f"{response.status_code} after retries: {response.text.strip()[:200]}")


def send_http(events, url: str, concurrency: int, summary: Summary, bar) -> None:
    """POST the events from `concurrency` threads, never more than twice that many in flight."""
    sender, lock = HttpSender(url), threading.Lock()
    slots = threading.BoundedSemaphore(concurrency * 2)  # keeps memory flat however many events there are

    def one(event):
        try:
            sender.send(event, summary, lock)
        finally:
            slots.release()
            bar.update(1)

    one = cell_output(one)  # in a notebook, what a worker prints belongs under the cell that sends
    with ThreadPoolExecutor(concurrency, thread_name_prefix="traffic") as pool:
        for event in events:
            slots.acquire()
            if sender.unreachable_in_a_row >= GIVE_UP_AFTER:
                summary.note(f"Stopped early: {GIVE_UP_AFTER} events in a row could not reach {url}.")
                break
            with lock:
                summary.sent += 1
            pool.submit(one, event)


def send_kafka(events, bootstrap_servers: str, topic: str, summary: Summary, bar, retries: int = 3) -> None:
    """Produce the events straight to the topic, re-sending the ones Kafka did not acknowledge."""
    from kafka.errors import KafkaError

    from clickkit.broker import topics

    try:
        producer = topics.producer(
            bootstrap_servers, timeout_s=5.0, linger_ms=5, delivery_timeout_ms=15000, max_block_ms=10000
        )
    except KafkaError as error:
        summary.note(
            f"Kafka is not reachable at {bootstrap_servers} ({error!r}): start it with 'make kafka-up' "
            "or set KAFKA_BOOTSTRAP_SERVERS."
        )
        summary.failed = summary.sent = sum(1 for _ in events)
        return
    pending = deque()

    def submit(event, attempt):
        try:
            value = json.dumps(event, ensure_ascii=False).encode("utf-8")  # the same bytes the endpoint writes
            pending.append((event, attempt, producer.send(topic, value)))
        except KafkaError as error:  # no broker within max_block_ms
            settle(event, attempt, error)

    def settle(event, attempt, error):
        if error is None:
            summary.accepted += 1
        elif attempt < retries:
            summary.retried += 1
            time.sleep(0.2 * 2**attempt)
            return submit(event, attempt + 1)
        else:
            summary.failed += 1
            summary.note(f"Kafka did not store an event: {error!r}")
        bar.update(1)

    def drain(block: bool):
        while pending and (block or pending[0][2].is_done):
            event, attempt, future = pending.popleft()
            try:
                future.get(timeout=30)
                settle(event, attempt, None)
            except KafkaError as error:
                settle(event, attempt, error)

    try:
        for event in events:
            summary.sent += 1
            submit(event, 0)
            drain(block=False)
        producer.flush(timeout=30)
        drain(block=True)
    finally:
        producer.close(timeout=10)


def send_stdout(events, summary: Summary, out) -> None:
    """Print one JSON event per line (the same seed and count give byte-identical output)."""
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        summary.sent += 1
        summary.accepted += 1
    out.flush()


def send(
    events,
    mode: str = "http",
    url: str = "",
    bootstrap_servers: str = "",
    topic: str = contract.TOPIC,
    concurrency: int = 4,
    total=None,
    progress: bool = True,
    out=None,
) -> Summary:
    """Send the events one way or another, with a progress bar, and return the summary."""
    summary, start = Summary(), time.monotonic()
    bar = tqdm(
        total=total,
        unit="event",
        desc=mode,
        disable=not progress or mode == "stdout",
        file=sys.stderr,
        mininterval=0.5,
        smoothing=0.1,
    )
    try:
        if mode == "http":
            send_http(events, url, concurrency, summary, bar)
        elif mode == "kafka":
            send_kafka(events, bootstrap_servers, topic, summary, bar)
        elif mode == "stdout":
            send_stdout(events, summary, out or sys.stdout)
        else:
            raise ValueError(f"Unknown mode {mode!r}: use http, kafka or stdout.")
    finally:
        bar.close()
        summary.elapsed_s = time.monotonic() - start
    return summary
