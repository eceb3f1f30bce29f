"""The grading rubric: the contract of notebook 01, one check per requirement, probed against the live endpoint.

The checks' keys, points and wording are the contract's (clickkit.contract.RUBRIC); what to do when one
fails is here, with the grader, since some of it is the answer. The gradebook, the feedback and
docs/grading.md all use RUBRIC.
The probes are hidden variants of the notebook's visible checks: the same requirements with other data.
"""

import http.client
import json
import random
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from clickkit import contract, schema
from clickkit.broker.topics import end_offsets, ensure_topic, read_to_end_since
from clickkit.contract import UNAVAILABLE_WITHIN_S as REPLY_WITHIN_S
from clickkit.errors import GraderError

# How long the grader holds Kafka's acknowledgement of each click back, drawn anew per click: an answer on
# loopback takes ms, so an endpoint that sleeps a fixed time instead of waiting for the ack is caught. The
# most stays well under the notebook producer's 2 s per request (request_timeout_ms) and 3 s per send.
HOLD_MIN_S, HOLD_MAX_S = 0.3, 0.9
RANDOM = random.SystemRandom()  # the holds and the clicks' numbers: nothing a submission could predict
MAX_ANSWER_BYTES = 64 * 1024  # far above any answer of the contract (a 200 or an error message is under 1 KiB)
CONNECT_S = 3.0
JSON = "application/json"


@dataclass(frozen=True)
class Check:
    """One line of the rubric: the requirement as the contract states it, its points, and what to do."""

    key: str
    points: int
    requirement: str
    advice: str


# What to tell a student who failed a check: what was expected and where notebook 01 taught it, never the line
# to type (the feedback goes to students).
ADVICE = {
    "answers_200": f"Answer {contract.OK} only once Kafka has acknowledged the send: the record metadata comes back "
    "when it has (01, the producer of Task 2 and the view of Task 3).",
    "body_keys": "Answer with exactly the keys the contract's table lists ("
    + ", ".join(contract.OK_BODY_KEYS)
    + "), taken from what Kafka returned for the send (01, Task 3).",
    "click_on_topic": f"Send the click itself, serialized as JSON, once, to `{contract.TOPIC}` (01, Task 2's "
    "producer and its serializer).",
    "clicks_in_order": "Answer each click only after its send is acknowledged, so the next one is sent after it.",
    "invalid_json": f"Refuse a body that is empty, not UTF-8 or not valid JSON with {contract.BAD_REQUEST} and a "
    "message (01, Task 1, and how the worked read_limit() refuses what it cannot read).",
    "not_an_object": f"A click is a JSON object: refuse any other JSON value with {contract.BAD_REQUEST} (01, Task 1).",
    "strict_json": "NaN, Infinity and numbers too large for a float are not strict JSON: refuse them too (01, Task 1, "
    "the json module's parsing hooks).",
    "content_type": f"Refuse every Content-Type but {contract.CONTENT_TYPE} with {contract.UNSUPPORTED_TYPE} "
    "(01, Task 1).",
    "too_large": f"Let Flask refuse a body over {contract.MAX_BODY_KIB} KiB with its own error, and do not swallow "
    "that error in the view (01, Task 3 and its size limit).",
    "json_errors": 'Every error answer, Flask\'s own 404, 405 and 413 included, must be JSON with an "error" '
    "message (01, the error handlers of create_app()).",
    "rejects_write_nothing": "Check the whole body before anything is sent to Kafka.",
    "unavailable_503": "Bound every wait on Kafka (01, Task 2's timeouts) and answer a Kafka error with "
    f"{contract.UNAVAILABLE}, a Retry-After header and a message that says the event may not have been stored.",
    "recovers": "After a Kafka error, drop the producer (forget_producer()) so the next request creates a fresh one.",
    "runs_cleanly": "Restart the kernel and run all cells; fix the first cell that fails, hangs or floods the output.",
}
RUBRIC = tuple(Check(line.key, line.points, line.requirement, ADVICE[line.key]) for line in contract.RUBRIC)
MAX_POINTS = contract.MAX_POINTS
CHECKS = {check.key: check for check in RUBRIC}


@dataclass
class Reply:
    """One request the grader sent, and what came back (status None: no answer)."""

    request: str
    status: int | None = None
    body: object = None
    is_json: bool = False
    seconds: float = 0.0
    retry_after: str | None = None
    problem: str = ""
    before_ack: str = ""  # set when the answer came while Kafka's acknowledgement was held back
    cut: str = ""  # set when the grader stopped reading the answer's body: too long, or too slow

    def __str__(self) -> str:
        if self.before_ack:
            return f"{self.request} → {self.status}, {self.before_ack}"
        if self.status is None:
            return f"{self.request} → no answer ({self.problem})"
        shown = json.dumps(self.body, ensure_ascii=False) if self.is_json else repr(self.body)
        return f"{self.request} → {self.status} {shown[:140]}" + (f" ({self.cut})" if self.cut else "")

    @property
    def has_error_message(self) -> bool:
        return (
            self.is_json
            and isinstance(self.body, dict)
            and isinstance(self.body.get("error"), str)
            and bool(self.body["error"].strip())
        )


@dataclass
class Probes:
    """The requests of one grading run, their answers, and the marker that finds their records on the topic."""

    marker: str = field(default_factory=lambda: f"grading-{uuid.uuid4().hex[:12]}")
    clicks: list = field(default_factory=list)  # the valid events sent, in order
    replies: dict = field(default_factory=dict)  # name -> Reply
    outage: dict = field(default_factory=dict)  # "503" and "recovery" -> Reply, or a note why not sent

    def click(self) -> dict:
        """Return a new valid click, marked so that its record can be found on the topic.

        Its token and numbers are random: nothing in a click tells which one of the run it is.
        """
        return schema.sample(
            ts_ingest=1_700_000_000_000 + RANDOM.randrange(86_400_000),
            article=f"https://en.wikipedia.org/wiki/{self.marker}_{secrets.token_hex(8)}",
            article_title="Liège-Guillemins",
            visitor_page_timer=RANDOM.randrange(500, 60_000),
            visitor_page_height=35.5,
            visitor_platform="tablet",
            visitor_os="ios",
            visitor_browser="safari",
            visitor_session=None,
        )

    @property
    def rejected_marker(self) -> str:
        return f"{self.marker}-rejected"


def send(
    url: str,
    name: str,
    method: str = "POST",
    body: bytes | None = None,
    content_type: str | None = JSON,
    timeout_s: float = 15.0,
) -> Reply:
    """Send one request and describe the answer: at most MAX_ANSWER_BYTES of its body, all within timeout_s."""
    parts = urlsplit(url)
    reply = Reply(f"{method} {parts.path}: {name}")
    started, expired, sockets, response = time.monotonic(), threading.Event(), [], None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=min(CONNECT_S, timeout_s))
    # A socket's timeout bounds each wait, never the whole: headers or a body trickled a byte at a time would
    # keep the grader reading for days. The watchdog shuts the socket at the deadline, whatever it is doing.
    watchdog = threading.Timer(timeout_s, shut, (sockets, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        sockets.append(connection.sock)  # the connection lets go of it once a response reads until the end
        if expired.is_set():
            raise TimeoutError("connected after the deadline")
        connection.sock.settimeout(timeout_s)  # the connect timeout was for connecting alone
        response = exchange(connection, method, parts, body, content_type)
        if expired.is_set():  # the head was cut short by the watchdog: what came is no answer
            raise TimeoutError("the status and headers did not come in time")
        reply.status, reply.retry_after = response.status, response.getheader("Retry-After")
        answered_type = response.getheader("Content-Type", "")
        data, reply.cut = read_capped(response, expired, timeout_s)
    except (OSError, http.client.HTTPException) as error:
        late = expired.is_set() or isinstance(error, TimeoutError)
        reply.problem = f"no answer within {timeout_s:g} s" if late else type(error).__name__
        return reply
    finally:
        watchdog.cancel()
        for held in (response, connection, *sockets):
            if held is not None:
                held.close()
    reply.seconds = time.monotonic() - started
    reply.is_json = answered_type.split(";")[0].strip() == JSON and not reply.cut  # a cut body is not whole JSON
    try:
        reply.body = json.loads(data) if reply.is_json else data.decode("utf-8", errors="replace")[:200]
    except ValueError:
        reply.body, reply.is_json = data.decode("utf-8", errors="replace")[:200], False
    return reply


def shut(sockets: list, expired: threading.Event) -> None:
    """Note that the deadline has passed, and end any wait on the request's socket."""
    expired.set()  # before looking for the socket: a connect that ends after this sees the flag
    for sock in list(sockets):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass


def exchange(connection: http.client.HTTPConnection, method: str, parts, body, content_type):
    """Send the request on the connection and return the response, once its status and headers are in."""
    headers = {"Content-Type": content_type} if content_type else {}
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body, headers)
    except (BrokenPipeError, ConnectionResetError):
        pass  # a server may answer a body too large (413) before reading it all: its answer is still there
    return connection.getresponse()


def read_capped(response: http.client.HTTPResponse, expired: threading.Event, timeout_s: float) -> tuple:
    """Return the body, up to MAX_ANSWER_BYTES, and a note when it was cut; never hold more than that."""
    data = bytearray()
    try:
        while len(data) <= MAX_ANSWER_BYTES:
            chunk = response.read1(MAX_ANSWER_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except (OSError, http.client.HTTPException):
        if not expired.is_set():
            return bytes(data), "the answer's body broke off"
    if expired.is_set():
        return bytes(data[:MAX_ANSWER_BYTES]), f"the answer's body did not end within {timeout_s:g} s: cut"
    if len(data) > MAX_ANSWER_BYTES:
        return bytes(data[:MAX_ANSWER_BYTES]), f"the answer's body went over {MAX_ANSWER_BYTES // 1024} KiB: cut"
    return bytes(data), ""


def bad_requests(probes: Probes) -> dict:
    """Return {name: (check key, body, content type)}: the refused requests, other than the notebook's."""
    mark = probes.rejected_marker
    return {
        "a trailing comma": ("invalid_json", ('{"article": "%s",}' % mark).encode(), JSON),
        "an empty body": ("invalid_json", b"", JSON),
        "Latin-1 bytes": ("invalid_json", ('{"article": "%s é"}' % mark).encode("latin-1"), JSON),
        "an array of a click": ("not_an_object", json.dumps([{"article": mark}]).encode(), JSON),
        "a string": ("not_an_object", json.dumps(mark).encode(), JSON),
        "the number 7": ("not_an_object", b"7", JSON),
        "true": ("not_an_object", b"true", JSON),
        "null": ("not_an_object", b"null", JSON),
        "NaN": ("strict_json", ('{"article": "%s", "visitor_page_height": NaN}' % mark).encode(), JSON),
        "-Infinity": ("strict_json", ('{"article": "%s", "visitor_page_timer": -Infinity}' % mark).encode(), JSON),
        "1e400": ("strict_json", ('{"article": "%s", "visitor_page_height": 1e400}' % mark).encode(), JSON),
        "text/csv": ("content_type", json.dumps({"article": mark}).encode(), "text/csv"),
        "no Content-Type": ("content_type", json.dumps({"article": mark}).encode(), None),
        "an 80 KB click": ("too_large", json.dumps({"article": mark, "padding": "y" * 80_000}).encode(), JSON),
    }


def send_held(url: str, name: str, body: bytes, link, hold_s: float = HOLD_MAX_S) -> Reply:
    """Send a click while the broker link holds Kafka's acknowledgement back for hold_s; note a 200 that came first."""
    link.hold()
    answer = {}
    sender = threading.Thread(target=lambda: answer.setdefault("reply", send(url, name, body=body)), daemon=True)
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while sender.is_alive() and time.monotonic() < deadline and not link.wait_for_produce(0.1):
            pass
        produced = link.wait_for_produce(0)
        if produced:
            sender.join(timeout=hold_s)  # an honest endpoint is still waiting for Kafka's answer
        answered_early = not sender.is_alive()
    finally:
        link.release()
    sender.join(timeout=30)
    reply = answer.get("reply") or Reply(f"POST /clicks: {name}", problem="no answer within 30 s")
    if answered_early and reply.status == contract.OK:
        reply.before_ack = (
            "answered 200 while Kafka's acknowledgement was held back"
            if produced
            else "answered 200 before anything was sent to Kafka"
        )
    return reply


def probe(url: str, probes: Probes, link, time_limit_s: float = 90.0) -> Probes:
    """Send the rubric's requests to the endpoint at `url` (…/clicks), one after the other.

    Every click goes while `link` (the sandbox's path to Kafka) holds its acknowledgement back, each for a time
    of its own: an endpoint cannot tell a held click from another, nor learn how long to wait instead of Kafka.
    """
    deadline = time.monotonic() + time_limit_s
    probes.clicks = [probes.click() for _ in range(7)]

    def post(name, body, content_type=JSON, method="POST", path=url, held=False):
        if time.monotonic() >= deadline:
            probes.replies[name] = Reply(f"{method} ({name})", problem="not sent: the endpoint used up the time")
        elif held:
            probes.replies[name] = send_held(path, name, body, link, RANDOM.uniform(HOLD_MIN_S, HOLD_MAX_S))
        else:
            probes.replies[name] = send(path, name, method, body, content_type)

    post("click 1", json.dumps(probes.clicks[0]).encode(), held=True)
    if probes.replies["click 1"].status is None:
        return probes  # nothing answers: every other request would only wait for its timeout
    for n in range(1, 6):
        post(f"click {n + 1}", json.dumps(probes.clicks[n]).encode(), held=True)
    for name, (_, body, content_type) in bad_requests(probes).items():
        post(name, body, content_type)
    post("an unknown URL", b"{}", path=url.rsplit("/", 1)[0] + "/nowhere")
    post("GET /clicks", None, None, method="GET")
    post("click 7, after the bad requests", json.dumps(probes.clicks[6]).encode(), held=True)
    return probes


class Record(bytes):
    """A record's value, that knows where on the topic it is."""

    def __new__(cls, value: bytes, partition: int, offset: int):
        record = super().__new__(cls, value)
        record.partition, record.offset = partition, offset
        return record


class Records(list):
    """The records the grader read back, oldest first, and the topic it read them from."""

    def __init__(self, records, topic: str):
        super().__init__(records)
        self.topic = topic


def marked_records(
    bootstrap_servers: str, topic: str, start: dict, marker: str, wait_s: float = 2.0, expected: int = 7
) -> Records:
    """Return the records written since `start` that carry the marker (each a Record), oldest first.

    Only committed records count: those of a transaction aborted, or still open, were never stored.

    Raise GraderError when Kafka cannot show them all: a read cut short, a log that no longer starts where it
    did, or a missing topic. Those are the broker's faults, never the student's.
    """
    needle, deadline = marker.encode(), time.monotonic() + wait_s
    while True:
        try:
            records, complete, starts = read_to_end_since(bootstrap_servers, topic, start, timeout_s=20.0)
        except Exception as error:
            raise GraderError(f"reading {topic} back from the private broker failed: {error!r}") from error
        if not complete:
            raise GraderError(f"reading {topic} back took over 20 s: the private broker is overloaded or stuck")
        moved = {p: offset for p, offset in starts.items() if offset > start.get(p, 0)}
        if moved:
            raise GraderError(
                f"{topic}'s log now starts at {moved}, after where grading began ({start}): "
                "records were removed behind the grader's back"
            )
        found = sorted((r.timestamp, r.partition, r.offset, r.value) for r in records if r.value and needle in r.value)
        # An acknowledged send is already there; the short wait is for endpoints that answer before the ack.
        if len(found) >= expected or time.monotonic() > deadline:
            return Records([Record(value, partition, offset) for _, partition, offset, value in found], topic)
        time.sleep(0.5)


def topic_start(bootstrap_servers: str, topic: str) -> dict:
    """Create the topic if it is missing and return where each partition ends now."""
    ensure_topic(bootstrap_servers, topic)
    return end_offsets(bootstrap_servers, topic) or {0: 0}


def as_json(value: bytes):
    """Return the record value parsed as JSON, or None when it is not JSON."""
    try:
        return json.loads(value.decode("utf-8"))
    except ValueError:
        return None


@dataclass
class Verdict:
    """The outcome of one check: passed or not, what went wrong, and the requests and records behind it."""

    passed: bool
    note: str = ""
    evidence: list = field(default_factory=list)


def expect_status(replies: list, status: int) -> Verdict:
    """Pass when every reply has the status."""
    wrong = [reply for reply in replies if reply.status != status]
    note = f"{len(wrong)} of {len(replies)} got another answer than {status}" if wrong else ""
    return Verdict(not wrong, note, [str(reply) for reply in replies])


def judge_outage(outage: dict) -> dict:
    """Return the verdicts of the two checks made with Kafka cut off, then back."""
    cut, back = outage.get("503"), outage.get("recovery")
    if not isinstance(cut, Reply):
        return {"unavailable_503": Verdict(False, cut or "not checked"), "recovers": Verdict(False, back or cut or "")}
    message = cut.body.get("error", "") if cut.has_error_message else ""
    problems = [
        text
        for failed, text in [
            (cut.status != contract.UNAVAILABLE, f"the answer was {cut.status}, not {contract.UNAVAILABLE}"),
            (cut.status is not None and cut.seconds >= REPLY_WITHIN_S, f"it took {cut.seconds:.1f} s"),
            (not cut.retry_after, "no Retry-After header"),
            (not message, 'no JSON {"error": ...} message'),
            (bool(message) and "may" not in message.lower(), "the message does not say the event *may* not be stored"),
            (bool(re.search(r"\w+Error|Traceback", message)), "the message carries internal detail"),
        ]
        if failed
    ]
    verdicts = {"unavailable_503": Verdict(not problems, "; ".join(problems), [f"{cut} in {cut.seconds:.1f} s"])}
    if isinstance(back, Reply):
        verdicts["recovers"] = Verdict(
            back.status == contract.OK,
            "" if back.status == contract.OK else f"no {contract.OK} within 30 s",
            [str(back)],
        )
    else:
        verdicts["recovers"] = Verdict(False, back or "not checked")
    return verdicts


def misplaced(reply: Reply, click: dict, values: Records) -> str:
    """Return how a 200 misstates where Kafka stored its click, or "" when it names the click's record."""
    topic, needle = values.topic, click["article"].rsplit("/", 1)[1].encode()
    places = [(topic, record.partition, record.offset) for record in values if needle in record]
    claim = tuple(reply.body[key] for key in contract.OK_BODY_KEYS)
    if claim in places and all(type(number) is int for number in claim[1:]):  # True == 1, but is no offset
        return ""
    if not places and claim[0] != topic:
        return ""  # sent to another topic, which the grader does not read: click_on_topic fails for it
    where = " and ".join(f"partition {p}, offset {o}" for _, p, o in places)
    return f"{reply} names a place where its click is not: " + (f"it is at {where}" if places else "it is not there")


def judge_body(click_replies: list, clicks: list, values: list) -> Verdict:
    """Judge the 200s' bodies: exactly the contract's keys, naming where Kafka stored each click."""
    oks = [(reply, click) for reply, click in zip(click_replies, clicks) if reply.status == contract.OK]
    if not oks:
        return Verdict(False, "cannot be checked: no click got a 200", [str(click_replies[0])])
    keys = set(contract.OK_BODY_KEYS)
    shapeless = [str(r) for r, _ in oks if not (r.is_json and isinstance(r.body, dict) and set(r.body) == keys)]
    if shapeless:
        return Verdict(False, "a 200 body has other keys, or is not JSON", shapeless[:2])
    # Plain values (no Records) say nothing of where they are: only the keys can be checked then.
    located = isinstance(values, Records)
    wrong = [line for reply, click in oks if located and (line := misplaced(reply, click, values))]
    if wrong:
        return Verdict(False, f"{len(wrong)} of {len(oks)} 200s name another record than their click's", wrong[:3])
    return Verdict(True, "", [str(reply) for reply, _ in oks[:2]])


def judge(probes: Probes, values: list, cell_errors: list, output_capped: bool) -> dict:
    """Return {check key: Verdict} for one submission, each check judged on its own evidence.

    `values` are marked_records()'s Records: each knows where it is on the topic, for the 200s to be checked.
    """
    replies, clicks = probes.replies, probes.clicks

    def got(name):
        return replies.get(name, Reply(name, problem="not sent"))

    parsed = [as_json(value) for value in values]
    arrived = [next((n for n, click in enumerate(clicks) if click == item), None) for item in parsed]
    rejected = [value for value in values if probes.rejected_marker.encode() in value]
    on_topic = [f"on the topic: {value[:140].decode(errors='replace')}" for value in values[:3]]
    click_replies = [got(f"click {n}") for n in range(1, 7)] + [got("click 7, after the bad requests")]
    verdicts = {"answers_200": expect_status(click_replies, contract.OK)}
    early = [reply for reply in click_replies if reply.before_ack]
    if early:
        verdicts["answers_200"] = Verdict(
            False, "a 200 came before Kafka had acknowledged the click", [str(reply) for reply in early[:3]]
        )
    verdicts["body_keys"] = judge_body(click_replies, clicks, values)
    count = arrived.count(0)
    note = (
        ""
        if count == 1
        else f"found {count} times on the topic"
        if count
        else "not on the topic as the same JSON object" + (" (a record differs: see below)" if values else "")
    )
    verdicts["click_on_topic"] = Verdict(count == 1, note, [str(click_replies[0])] + on_topic)
    series = [n for n in arrived if n in range(1, 6)]
    verdicts["clicks_in_order"] = Verdict(
        series == [1, 2, 3, 4, 5],
        "" if series == [1, 2, 3, 4, 5] else f"on the topic in this order: {series}",
        [str(r) for r in click_replies[1:6]],
    )

    expected = {
        "invalid_json": contract.BAD_REQUEST,
        "not_an_object": contract.BAD_REQUEST,
        "strict_json": contract.BAD_REQUEST,
        "content_type": contract.UNSUPPORTED_TYPE,
        "too_large": contract.TOO_LARGE,
    }
    for key, status in expected.items():
        verdicts[key] = expect_status(
            [got(name) for name, (k, _, _) in bad_requests(probes).items() if k == key], status
        )

    errors = [reply for reply in replies.values() if reply.status and reply.status >= 400]
    refused = [got(name) for name in bad_requests(probes)]  # Flask's own 404 and 405 prove nothing alone
    if not any(reply.status and 400 <= reply.status < 500 for reply in refused):
        verdicts["json_errors"] = Verdict(False, "cannot be checked: no bad request to /clicks got a 4xx answer")
    else:
        plain = [reply for reply in errors if not reply.has_error_message]
        verdicts["json_errors"] = Verdict(
            not plain,
            f"{len(plain)} error answers without a JSON error message" if plain else "",
            [str(reply) for reply in (plain or errors)[:3]],
        )
    if not values:
        verdicts["rejects_write_nothing"] = Verdict(False, "cannot be checked: nothing the grader sent reached Kafka")
    else:
        verdicts["rejects_write_nothing"] = Verdict(
            not rejected,
            f"{len(rejected)} refused requests reached Kafka" if rejected else "",
            [f"on the topic: {value[:140].decode(errors='replace')}" for value in rejected[:2]],
        )
    verdicts.update(judge_outage(probes.outage))
    problems = cell_errors + (["the output went over the grader's cap"] if output_capped else [])
    verdicts["runs_cleanly"] = Verdict(not problems, "; ".join(problems[:3]), problems[3:6])
    return verdicts
