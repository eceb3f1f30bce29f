"""The course's contract, written once: what POST /clicks answers, its bounds, the topic, and the rubric.

The reference endpoint, the traffic generator, the grader's rubric, the exercise checks, the docs and the
notebooks' Markdown (filled in by `make exercises` from `{{ NAME }}` markers) read it from here; the click's
fields are in `schema.py`. tests/test_contract.py fails when any copy drifts from it.
"""

from dataclasses import dataclass

TOPIC = "clicks"  # the topic every click goes to
# The Apache Kafka the course runs: the jars of make kafka-up, and docker-compose.yml's image (a test compares).
KAFKA_VERSION = "4.1.1"
PATH = "/clicks"  # POST one click here, as a JSON object
CONTENT_TYPE = "application/json"
MAX_BODY_KIB = 64  # a click is ~400 bytes; anything this large is a mistake or an attack
MAX_BODY_BYTES = MAX_BODY_KIB * 1024
UNAVAILABLE_WITHIN_S = 10  # while Kafka is unreachable, the 503 comes within this
# The reference endpoint's own deadline per request: 2 s under the bound, for the test client's and the
# server's share of the time, so that a busy machine still keeps the promise.
REFERENCE_DEADLINE_S = UNAVAILABLE_WITHIN_S - 2
RETRY_AFTER_S = 5  # the Retry-After header of a 503
OK_BODY_KEYS = ("topic", "partition", "offset")  # exactly the keys of a 200's JSON body

# The status codes of the contract, by what they answer.
OK = 200  # Kafka has acknowledged the event
BAD_REQUEST = 400  # not JSON, not strict JSON, not UTF-8, empty, or not an object
TOO_LARGE = 413  # a body over MAX_BODY_KIB
UNSUPPORTED_TYPE = 415  # a Content-Type other than CONTENT_TYPE
UNAVAILABLE = 503  # Kafka did not confirm in time: the event *may* not be stored


@dataclass(frozen=True)
class Check:
    """One line of the rubric: the requirement as the contract states it, its points, and what to do."""

    key: str
    points: int
    requirement: str
    advice: str


RUBRIC = (
    Check(
        "answers_200",
        2,
        f"A valid click gets {OK}, only once Kafka has acknowledged it",
        f"Send with producer.send(topic, event) and wait with .get(timeout=...) before answering {OK}.",
    ),
    Check(
        "body_keys",
        1,
        f"The {OK} body is JSON with exactly the keys "
        + ", ".join(f'"{key}"' for key in OK_BODY_KEYS[:-1])
        + f' and "{OK_BODY_KEYS[-1]}"',
        "return jsonify(" + ", ".join(f"{key}=metadata.{key}" for key in OK_BODY_KEYS) + ")",
    ),
    Check(
        "click_on_topic",
        2,
        f"The click is on the topic `{TOPIC}` as the same JSON object, once",
        f"Send the event itself, serialized as JSON (JsonSerializer or json.dumps, not str()), once, to `{TOPIC}`.",
    ),
    Check(
        "clicks_in_order",
        1,
        "Five clicks in a row each arrive once, in the order they were sent",
        "Answer each click only after its send is acknowledged, so the next one is sent after it.",
    ),
    Check(
        "invalid_json",
        1,
        f"{BAD_REQUEST} for a body that is not valid JSON, not UTF-8, or empty",
        f"Decode the body and parse it with json.loads inside try/except; answer {BAD_REQUEST} with a message.",
    ),
    Check(
        "not_an_object",
        1,
        f"{BAD_REQUEST} for JSON that is not an object: an array, a string, a number, true, null",
        f"Check isinstance(data, dict) and answer {BAD_REQUEST} when it is not.",
    ),
    Check(
        "strict_json",
        1,
        f"{BAD_REQUEST} for JSON that is not strict: NaN, Infinity, -Infinity, 1e999",
        "Give json.loads parse_constant= and parse_float= hooks that raise ValueError for these.",
    ),
    Check(
        "content_type",
        1,
        f"{UNSUPPORTED_TYPE} for any Content-Type other than {CONTENT_TYPE}",
        f"Compare request.mimetype with '{CONTENT_TYPE}' and answer {UNSUPPORTED_TYPE} when they differ.",
    ),
    Check(
        "too_large",
        1,
        f"{TOO_LARGE} for a body over {MAX_BODY_KIB} KiB",
        f"Set MAX_CONTENT_LENGTH to {MAX_BODY_KIB} * 1024 and read the body with request.get_data(), without "
        "catching its error.",
    ),
    Check(
        "json_errors",
        1,
        'Every error answer is JSON: {"error": "<what is wrong>"}, 404 and 405 included',
        "Answer every error with jsonify(error=...); an @app.errorhandler(HTTPException) covers Flask's own.",
    ),
    Check(
        "rejects_write_nothing",
        1,
        "A refused request writes nothing to Kafka",
        "Check the whole body before anything is sent to Kafka.",
    ),
    Check(
        "unavailable_503",
        2,
        f"{UNAVAILABLE} within {UNAVAILABLE_WITHIN_S} s while Kafka is unreachable, with "
        "Retry-After, and a message that says the event may not have been stored",
        "Bound every wait on Kafka (bootstrap_timeout_ms, max_block_ms, delivery_timeout_ms, get(timeout=)) and "
        f"answer a KafkaError with {UNAVAILABLE}, a Retry-After header and an honest message.",
    ),
    Check(
        "recovers",
        1,
        f"Once Kafka is reachable again, the same running app answers {OK} again",
        "After a KafkaError, drop the producer (forget_producer()) so the next request creates a fresh one.",
    ),
    Check(
        "runs_cleanly",
        1,
        "The notebook runs top to bottom without errors or timeouts, and its output stays under the grader's cap",
        "Restart the kernel and run all cells; fix the first cell that fails, hangs or floods the output.",
    ),
)
MAX_POINTS = sum(check.points for check in RUBRIC)
CHECKS = {check.key: check for check in RUBRIC}


def values() -> dict:
    """Return {NAME: value} of every fact a `{{ NAME }}` marker in a solution's Markdown may show."""
    facts = {
        name: value for name, value in globals().items() if name.isupper() and isinstance(value, (str, int, float))
    }
    facts["OK_BODY_KEYS"] = ", ".join(f"`{key}`" for key in OK_BODY_KEYS)
    facts.update({f"POINTS_{check.key}": check.points for check in RUBRIC})
    return facts
