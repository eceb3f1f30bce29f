"""The grading rubric: probe a student's live endpoint, then read what really reached Kafka."""

import json
import time
import uuid
from dataclasses import dataclass, field

import requests
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


@dataclass(frozen=True)
class Check:
    """One line of the rubric: what is checked, its points, and what to do when it fails."""

    key: str
    points: int
    title: str
    advice: str


RUBRIC = (
    Check("accepts_click", 2, "A valid click gets 200 with a JSON body",
          "Answer a valid click with 200 and a JSON body (jsonify), once Kafka has acknowledged it."),
    Check("click_on_topic", 2, "Exactly that JSON object arrives on the topic, once",
          "Send the event itself to the topic, serialized with json.dumps (not str()), and only once."),
    Check("clicks_in_order", 2, "Five clicks in a row all get 200 and arrive once each, in order",
          "Wait for each send to be acknowledged (future.get(timeout=...)) before answering."),
    Check("invalid_json", 2, "Malformed JSON and an empty body get 400 with a JSON message",
          "Catch json.JSONDecodeError and return 400 with a JSON body such as {\"error\": \"...\"}."),
    Check("not_an_object", 1, "JSON that is not an object (array, string, number, null) gets 400",
          "Check isinstance(event, dict) and return 400 with a message when it is not."),
    Check("rejects_write_nothing", 1, "Rejected requests write nothing to Kafka",
          "Validate the body completely before sending anything to Kafka."),
    Check("wrong_method", 1, "GET /clicks gets 405",
          "Declare the route for POST only (@app.post or methods=[\"POST\"])."),
    Check("json_responses", 1, "Every answer from /clicks is JSON",
          "Return jsonify(...) on every path, errors included (an @app.errorhandler helps)."),
    Check("survives_bad_input", 1, "A valid click after the bad requests still gets 200",
          "Make sure no bad request can break the app or its producer."),
    Check("runs_cleanly", 1, "The notebook runs top to bottom without errors or timeouts",
          "Restart the kernel and run all cells; fix the first cell that fails or never ends."),
    Check("tidy_output", 1, "The output stays readable (below the grader's cap)",
          "Do not print inside loops; print a summary instead."),
)
MAX_POINTS = sum(check.points for check in RUBRIC)
CLICKS_SENT = 7  # one alone, five in a row, one after the bad requests
GATE = "accepts_click"  # the other checks describe a working endpoint, so they need this one
NOT_CHECKED = "not checked, since a valid click must get 200 first"


@dataclass
class Reply:
    """What the endpoint answered to one request (status None: no answer)."""

    status: int | None
    body: object = None
    is_json: bool = False
    problem: str = ""


@dataclass
class Probes:
    """The requests the rubric sends, their answers, and the marker that finds their records."""

    marker: str = field(default_factory=lambda: f"grading-{uuid.uuid4().hex[:12]}")
    clicks: list = field(default_factory=list)     # the valid events sent, in order
    replies: dict = field(default_factory=dict)    # name -> Reply

    def click(self, n: int) -> dict:
        """Return valid click number n, marked so that its record can be found on the topic."""
        return {"ts_ingest": 1_700_000_000_000 + n, "article": f"https://en.wikipedia.org/wiki/{self.marker}_{n}",
                "article_title": "Cercanías San Sebastián", "visitor_page_timer": 1200 * n,
                "visitor_page_height": 35.5, "visitor_platform": "mobile", "visitor_os": "android",
                "visitor_browser": "chrome", "visitor_country": "BE"}


def send(url: str, method: str, body: bytes | None, deadline: float) -> Reply:
    """Send one request, bounded by the probing deadline, and describe the answer."""
    left = deadline - time.monotonic()
    if left <= 1:
        return Reply(None, problem="not sent: the endpoint used up the grader's time")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        response = requests.request(method, url, data=body, headers=headers, timeout=(2, min(8.0, left)))
    except requests.RequestException as error:
        return Reply(None, problem=f"no answer ({type(error).__name__})")
    try:
        parsed, is_json = response.json(), response.headers.get("Content-Type", "").startswith("application/json")
    except ValueError:
        parsed, is_json = response.text[:120], False
    return Reply(response.status_code, parsed, is_json)


def probe(url: str, time_limit_s: float) -> Probes:
    """Send the rubric's requests to the endpoint at `url` (…/clicks), one after the other."""
    probes, deadline = Probes(), time.monotonic() + time_limit_s
    probes.clicks = [probes.click(n) for n in range(CLICKS_SENT)]

    def post(name, payload: bytes | None):
        probes.replies[name] = send(url, "POST", payload, deadline)

    post("click0", json.dumps(probes.clicks[0]).encode())
    if probes.replies["click0"].status is None:
        return probes  # nothing answers: every other request would only wait for its timeout
    for n in range(1, 6):
        post(f"click{n}", json.dumps(probes.clicks[n]).encode())
    rejected = f"{probes.marker}-rejected"
    post("malformed", ('{"article": "%s", "visitor_country": ' % rejected).encode())
    post("empty", b"")
    post("array", json.dumps([rejected]).encode())
    post("string", json.dumps(rejected).encode())
    post("number", b"42")
    post("null", b"null")
    probes.replies["get"] = send(url, "GET", None, deadline)
    post("click6", json.dumps(probes.clicks[6]).encode())
    return probes


def end_offsets(bootstrap_servers: str, topic: str) -> dict:
    """Create the topic if it is missing and return {partition: end offset}."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    try:
        # -1, -1: the broker's own defaults, as when a producer's first send auto-creates the topic.
        admin.create_topics([NewTopic(topic, -1, -1)], timeout_ms=10000)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [0])]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def marked_records(bootstrap_servers: str, topic: str, start: dict, marker: str, wait_s: float = 2.0,
                   expected: int = CLICKS_SENT) -> list:
    """Return the values of records written since `start` that carry the marker, oldest first."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             request_timeout_ms=10000, max_partition_fetch_bytes=1 << 20)
    found, needle, deadline = [], marker.encode(), time.monotonic() + wait_s
    try:
        partitions = [TopicPartition(topic, p) for p in start]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start[tp.partition])
        while True:
            ends = consumer.end_offsets(partitions)
            # An acknowledged send is already there; the short wait is for endpoints that answer before the ack.
            while any(consumer.position(tp) < ends[tp] for tp in partitions):
                for records in consumer.poll(timeout_ms=500).values():
                    found += [(r.timestamp, r.partition, r.offset, r.value) for r in records
                              if r.value and needle in r.value]
                if time.monotonic() > deadline + 10:
                    break  # a flood of other traffic: grade what was read
            if len(found) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        consumer.close()
    return [value for *_, value in sorted(found)]


def as_json(value: bytes):
    """Return the record value parsed as JSON, or None when it is not JSON."""
    try:
        return json.loads(value.decode("utf-8"))
    except ValueError:
        return None


def has_message(reply: Reply) -> bool:
    """Tell whether a JSON answer carries a message for the client to read."""
    return isinstance(reply.body, dict) and any(isinstance(v, str) and v.strip() for v in reply.body.values())


def describe(reply: Reply) -> str:
    """Say briefly what an answer was, for feedback."""
    if reply.status is None:
        return reply.problem
    return f"{reply.status}" + ("" if reply.is_json else " (not JSON)")


def summarize(errors: list, shown: int = 3) -> str:
    """Join the first errors into one line; the first one is usually the cause of the rest."""
    more = f"; and {len(errors) - shown} more" if len(errors) > shown else ""
    return "; ".join(errors[:shown]) + more


def judge(probes: Probes, values: list, topic: str, run_errors: list, output_capped: bool) -> dict:
    """Return {check key: (passed, note)} for one submission."""
    replies, clicks = probes.replies, probes.clicks
    parsed = [as_json(value) for value in values]
    arrived = [next((n for n, click in enumerate(clicks) if click == item), None) for item in parsed]
    rejected = [value for value in values if f"{probes.marker}-rejected".encode() in value]
    strays = [value for value, n in zip(values, arrived) if n is None and value not in rejected]
    got = lambda *names: "; ".join(f"{name}: {describe(replies[name])}" for name in names if name in replies)
    results = {}

    first = replies.get("click0", Reply(None, problem="not sent"))
    results["accepts_click"] = (first.status == 200 and first.is_json, f"got {describe(first)}")
    count0 = arrived.count(0)
    note = f"found {count0} times" if count0 != 1 else ""
    if count0 == 0 and strays:
        note = f"the record on the topic is not the same JSON: {strays[0][:90].decode(errors='replace')}"
    elif count0 == 0:
        elsewhere = first.body.get("topic") if isinstance(first.body, dict) else None
        note = f"the click is not on the topic '{topic}'" + (f" (your answer says '{elsewhere}')" if elsewhere else "")
    results["click_on_topic"] = (count0 == 1, note)

    names = [f"click{n}" for n in range(1, 6)]
    series = [n for n in arrived if n in range(1, 6)]
    in_order = all(replies.get(name, Reply(None)).status == 200 for name in names) and series == [1, 2, 3, 4, 5]
    results["clicks_in_order"] = (in_order, f"answers {got(*names)}; on the topic in this order: {series}")

    invalid = [replies.get(name, Reply(None)) for name in ("malformed", "empty")]
    results["invalid_json"] = (all(r.status == 400 and has_message(r) for r in invalid), got("malformed", "empty"))
    others = [replies.get(name, Reply(None)).status for name in ("array", "string", "number", "null")]
    results["not_an_object"] = (others == [400] * 4, got("array", "string", "number", "null"))
    results["rejects_write_nothing"] = (not rejected, f"{len(rejected)} rejected request(s) reached the topic")
    results["wrong_method"] = (replies.get("get", Reply(None)).status == 405, got("get"))
    not_json = [name for name, reply in replies.items() if not reply.is_json]
    complete = len(replies) == CLICKS_SENT + 7  # + six bad bodies and the GET
    results["json_responses"] = (complete and not not_json, f"not JSON: {', '.join(not_json)}" if not_json else "")
    results["survives_bad_input"] = (replies.get("click6", Reply(None)).status == 200, got("click6"))
    results["runs_cleanly"] = (not run_errors, summarize(run_errors))
    results["tidy_output"] = (not output_capped, "the output went over the grader's cap" if output_capped else "")

    if not results[GATE][0]:
        # Framework defaults (a 405, a JSON error page) must not earn points for an endpoint that does not work.
        for check in RUBRIC[1:]:
            results[check.key] = (False, NOT_CHECKED)
    return results
