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
class Requirement:
    """One line of the rubric: its check's key, its points, and the requirement as the contract states it."""

    key: str
    points: int
    requirement: str


# What to do when a check fails is the grader's (grading/rubric.py): some of it is the answer.
RUBRIC = (
    Requirement("answers_200", 2, f"A valid click gets {OK}, only once Kafka has acknowledged it"),
    Requirement(
        "body_keys",
        1,
        f"The {OK} body is JSON with exactly the keys "
        + ", ".join(f'"{key}"' for key in OK_BODY_KEYS[:-1])
        + f' and "{OK_BODY_KEYS[-1]}"',
    ),
    Requirement("click_on_topic", 2, f"The click is on the topic `{TOPIC}` as the same JSON object, once"),
    Requirement("clicks_in_order", 1, "Five clicks in a row each arrive once, in the order they were sent"),
    Requirement("invalid_json", 1, f"{BAD_REQUEST} for a body that is not valid JSON, not UTF-8, or empty"),
    Requirement(
        "not_an_object", 1, f"{BAD_REQUEST} for JSON that is not an object: an array, a string, a number, true, null"
    ),
    Requirement("strict_json", 1, f"{BAD_REQUEST} for JSON that is not strict: NaN, Infinity, -Infinity, 1e999"),
    Requirement("content_type", 1, f"{UNSUPPORTED_TYPE} for any Content-Type other than {CONTENT_TYPE}"),
    Requirement("too_large", 1, f"{TOO_LARGE} for a body over {MAX_BODY_KIB} KiB"),
    Requirement("json_errors", 1, 'Every error answer is JSON: {"error": "<what is wrong>"}, 404 and 405 included'),
    Requirement("rejects_write_nothing", 1, "A refused request writes nothing to Kafka"),
    Requirement(
        "unavailable_503",
        2,
        f"{UNAVAILABLE} within {UNAVAILABLE_WITHIN_S} s while Kafka is unreachable, with Retry-After, "
        "and a message that says the event may not have been stored",
    ),
    Requirement("recovers", 1, f"Once Kafka is reachable again, the same running app answers {OK} again"),
    Requirement(
        "runs_cleanly",
        1,
        "The notebook runs top to bottom without errors or timeouts, and its output stays under the grader's cap",
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
