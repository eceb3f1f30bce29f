"""The click event: its fields, its optional event id, a sample, and the rules an event that is not dirty follows.

The generator, the rubric, the benchmark, the tracker's tests and the docs all take the fields from here.
"""

import uuid

# name -> (JSON type, what it holds)
FIELDS = {
    "ts_ingest": (int, "when the event happened, in milliseconds since 1 January 1970 UTC"),
    "article": (str, "the Wikipedia article's address, percent-encoded as in an address bar"),
    "article_title": (str, "the article's title as a reader sees it"),
    "visitor_page_timer": (int, "how long the page had been open, in milliseconds; 0 when it opens"),
    "visitor_page_height": (int, "how far down the reader had scrolled, in pixels"),
    "visitor_platform": (str, "the device kind: mobile, desktop or tablet"),
    "visitor_os": (str, "the operating system, e.g. android, ios, windows, mac os x, linux, unknown"),
    "visitor_browser": (str, "the browser, e.g. chrome, safari, firefox, edge, unknown"),
    "visitor_country": (str, "a two-letter country code in capitals, e.g. BE"),
}
NAMES = tuple(FIELDS)
PLATFORMS = ("mobile", "desktop", "tablet")
# Not one of the nine fields above: an id the click gets where it is born, so that a consumer can drop a
# click it has already processed. Optional: the endpoint accepts and stores clicks with or without one.
EVENT_ID = "event_id"
EVENT_ID_MEANING = ("a random UUID (version 4, text such as \"9f1c...\") given where the click is born, in the "
                    "generator and the tracker; a click sent twice keeps its id. Optional: the endpoint accepts "
                    "clicks without one")

SAMPLE = {
    "ts_ingest": 1718000000000,
    "article": "https://en.wikipedia.org/wiki/Cercan%C3%ADas_San_Sebasti%C3%A1n",
    "article_title": "Cercanías San Sebastián",
    "visitor_page_timer": 5400,
    "visitor_page_height": 1250,
    "visitor_platform": "mobile",
    "visitor_os": "android",
    "visitor_browser": "chrome",
    "visitor_country": "BE",
}


def sample(**changes) -> dict:
    """Return the sample click with some fields changed or added."""
    return {**SAMPLE, **changes}


def is_uuid(value) -> bool:
    """Tell whether a value is a UUID written as text, such as "9f1c0a52-3d2e-4c1b-8e5f-2a6b7c8d9e0f"."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def problems(event) -> list:
    """Return what makes an event dirty (missing or extra fields, wrong types or values), or []."""
    if not isinstance(event, dict):
        return [f"not a JSON object but {type(event).__name__}"]
    found = [f"missing {name}" for name in NAMES if name not in event]
    for name, (kind, _) in FIELDS.items():
        value = event.get(name)
        if name in event and (not isinstance(value, kind) or isinstance(value, bool)):
            found.append(f"{name} is {value!r}, not {kind.__name__}")
    if isinstance(event.get("visitor_platform"), str) and event["visitor_platform"] not in PLATFORMS:
        found.append(f"visitor_platform {event['visitor_platform']!r} is not one of {PLATFORMS}")
    if EVENT_ID in event and not is_uuid(event[EVENT_ID]):
        found.append(f"{EVENT_ID} {event[EVENT_ID]!r} is not a UUID")
    country = event.get("visitor_country")
    if isinstance(country, str) and not (len(country) == 2 and country.isupper()):
        found.append(f"visitor_country {country!r} is not two capitals")
    return found
