"""The grader's probes against endpoints of the test's own: bounded answers, held clicks, and the records read back."""

import contextlib
import json
import socketserver
import threading
import time
import tracemalloc
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kafka import KafkaProducer

from clickkit.broker.topics import end_offsets
from clickkit.grading import rubric
from clickkit.grading.rubric import Probes, judge, marked_records, probe, send, send_held

CHUNK = b"x" * 65536


class FakeLink:
    """The broker link's interface, for a test endpoint that says itself when it sends to Kafka."""

    def __init__(self):
        self.lock = threading.Condition()
        self.holding, self.produce_requests, self.holds = False, 0, 0

    def hold(self) -> None:
        with self.lock:
            self.holding, self.produce_requests, self.holds = True, 0, self.holds + 1

    def release(self) -> None:
        with self.lock:
            self.holding = False
            self.lock.notify_all()

    def wait_for_produce(self, timeout_s: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.produce_requests, timeout_s) > 0

    def produce(self) -> None:
        """What the endpoint calls as it sends a click to Kafka."""
        with self.lock:
            self.produce_requests += 1
            self.lock.notify_all()

    def acknowledged(self, timeout_s: float = 30) -> bool:
        """Wait, as the endpoint's producer would, until Kafka's answer is let through."""
        with self.lock:
            return self.lock.wait_for(lambda: not self.holding, timeout_s)


@contextlib.contextmanager
def serving(server):
    """Serve in a thread; yield the URL of /clicks there."""
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clicks"
    finally:
        server.shutdown()
        server.server_close()


def raw_endpoint(answer):
    """Return a server that reads each request whole, then lets answer(wfile) write whatever bytes it likes."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            length = 0
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                length = int(value) if name.lower() == "content-length" else length
            self.rfile.read(length)
            with contextlib.suppress(OSError):  # the grader hangs up: the answer ends
                answer(self.wfile)

    return socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)


def endless(wfile):
    wfile.write(b"HTTP/1.1 404 NOT FOUND\r\nContent-Type: application/json\r\n\r\n")
    while True:
        wfile.write(CHUNK)


def trickled_body(wfile):
    wfile.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"topic": ')
    while True:
        time.sleep(0.5)
        wfile.write(b" ")


def trickled_headers(wfile):
    wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while True:
        time.sleep(0.5)
        wfile.write(b"a")


def test_an_endless_body_is_cut_at_the_cap_and_costs_the_grader_no_memory():
    with serving(raw_endpoint(endless)) as url:
        tracemalloc.start()
        try:
            reply = send(url, "an unknown URL", body=b"{}", timeout_s=30)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB held while reading the answer"
    assert reply.status == 404 and reply.cut == "the answer's body went over 64 KiB: cut"
    assert not reply.is_json and "went over 64 KiB: cut" in str(reply)  # the evidence says so


def test_a_body_trickled_forever_is_cut_by_the_total_deadline():
    with serving(raw_endpoint(trickled_body)) as url:
        reply = send(url, "click 1", body=b"{}", timeout_s=2)
    assert reply.status == 200 and reply.cut == "the answer's body did not end within 2 s: cut"
    assert reply.seconds >= 2 and not reply.is_json and reply.body.startswith('{"topic": ')


def test_headers_trickled_forever_are_no_answer_once_the_deadline_passes():
    with serving(raw_endpoint(trickled_headers)) as url:
        reply = send(url, "click 1", body=b"{}", timeout_s=2)
    assert reply.status is None and reply.problem == "no answer within 2 s"


def fake_endpoint(link: FakeLink, answer_click, seen: list | None = None):
    """Return an endpoint that refuses all but a valid click, and answers a click with answer_click(n)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if seen is not None:
                seen.append((self.path, self.headers.get("Content-Type"), body))
            try:
                click = json.loads(body)
            except ValueError:
                click = None
            if isinstance(click, dict) and "visitor_platform" in click:
                link.produce()
                self.server.clicks.append(click)
                self.answer(200, answer_click(len(self.server.clicks)))
            else:
                self.answer(400, {"error": "not a click"})

        do_GET = do_POST

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.clicks = []
    return server


def honest(link: FakeLink):
    def answer(n):
        assert link.acknowledged()
        return {"topic": "clicks", "partition": 0, "offset": n}

    return answer


def test_an_answer_of_the_contract_is_read_whole_and_the_request_arrives_as_sent():
    link, seen = FakeLink(), []
    with serving(fake_endpoint(link, honest(link), seen)) as url:
        reply = send(url, "click 1", body=b'{"visitor_platform": "tablet"}')
        refused = send(url, "text/csv", body=b"a,b", content_type="text/csv")
    assert (reply.status, reply.body, reply.is_json, reply.cut) == (
        200,
        {"topic": "clicks", "partition": 0, "offset": 1},
        True,
        "",
    )
    assert refused.has_error_message and refused.status == 400
    assert seen == [
        ("/clicks", "application/json", b'{"visitor_platform": "tablet"}'),
        ("/clicks", "text/csv", b"a,b"),
    ]


def test_every_click_is_held_each_for_a_time_of_its_own(monkeypatch):
    link, holds = FakeLink(), []

    def recording(url, name, body, link, hold_s):
        holds.append(hold_s)
        return send_held(url, name, body, link, hold_s)

    monkeypatch.setattr(rubric, "send_held", recording)
    with serving(fake_endpoint(link, honest(link))) as url:
        probes = probe(url, Probes(), link)
    clicks = [probes.replies[f"click {n}"] for n in range(1, 7)] + [probes.replies["click 7, after the bad requests"]]
    assert [(reply.status, reply.before_ack) for reply in clicks] == [(200, "")] * 7
    assert link.holds == 7 and not link.holding
    assert len(set(holds)) == 7 and all(rubric.HOLD_MIN_S <= hold <= rubric.HOLD_MAX_S for hold in holds)
    articles = [click["article"] for click in probes.clicks]
    assert len(set(articles)) == 7 and all(
        a.startswith(f"https://en.wikipedia.org/wiki/{probes.marker}_") for a in articles
    )


def test_an_endpoint_that_sleeps_instead_of_waiting_for_kafka_is_caught():
    link = FakeLink()

    def sleeper(n):
        time.sleep(0.3)  # instead of waiting for Kafka's answer: shorter than the hold, which is 3 s here
        return {"topic": "clicks", "partition": 0, "offset": n}

    with serving(fake_endpoint(link, sleeper)) as url:
        reply = send_held(url, "click 1", json.dumps(Probes().click()).encode(), link, hold_s=3.0)
    assert reply.status == 200 and reply.before_ack == "answered 200 while Kafka's acknowledgement was held back"


def test_an_endpoint_that_waits_for_kafka_only_on_the_first_and_last_clicks_loses_answers_200():
    link = FakeLink()

    def first_and_last(n):
        if n in (1, 7):
            assert link.acknowledged()
        return {"topic": "clicks", "partition": 0, "offset": n}

    with serving(fake_endpoint(link, first_and_last)) as url:
        probes = probe(url, Probes(), link)
    verdict = judge(probes, [], [], False)["answers_200"]
    assert not verdict.passed and verdict.note == "a 200 came before Kafka had acknowledged the click"


def test_the_records_read_back_know_where_they_are_and_leave_out_aborted_transactions(bootstrap_servers, topic):
    start, marker = end_offsets(bootstrap_servers, topic), f"grading-{uuid.uuid4().hex[:12]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, transactional_id=f"test-{uuid.uuid4().hex}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        stored = [producer.send(topic, f"{marker}_{n}".encode()) for n in range(2)]
        producer.send(topic, b"unmarked")
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic, f"{marker}_aborted".encode())
        producer.flush()
        producer.abort_transaction()
        stored = [future.get(timeout=15) for future in stored]
    finally:
        producer.close(timeout=5)
    records = marked_records(bootstrap_servers, topic, start, marker, wait_s=0, expected=2)
    assert records.topic == topic
    assert [(bytes(r), r.partition, r.offset) for r in records] == [
        (f"{marker}_{n}".encode(), meta.partition, meta.offset) for n, meta in enumerate(stored)
    ]
