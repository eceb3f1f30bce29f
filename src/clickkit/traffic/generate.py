"""Generate the fake website's click events; every value comes from one random.Random(seed)."""

import heapq
import itertools
import random
import uuid
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from clickkit import schema

WIKI = "https://en.wikipedia.org/wiki/"
# Wikipedia leaves these characters readable in its URLs; everything else non-ASCII is percent-encoded.
URL_SAFE = ";@$!*(),/~:"
FIELDS = schema.NAMES
# 2024-01-01T00:00:00Z: a fixed start, so the same seed and count give byte-identical output.
DEFAULT_START_MS = 1_704_067_200_000
ACTIVE_VISITORS = 75  # about 14 events/s of simulated time, like the real log (1,633 lines in ~2 minutes)

# Shares from a real log of a regional (Belgian) site: mobile 939, desktop 392, tablet 261.
PLATFORMS = {"mobile": 939, "desktop": 392, "tablet": 261}
# Which operating systems each platform has, and which browsers each system has (iOS only on mobile or tablet).
OSES = {
    "mobile": {"android": 52, "ios": 46, "unknown": 2},
    "tablet": {"ios": 58, "android": 40, "unknown": 2},
    "desktop": {"windows": 62, "mac os x": 24, "linux": 12, "unknown": 2},
}
BROWSERS = {
    "android": {"chrome": 86, "firefox": 6, "edge": 3, "unknown": 5},
    "ios": {"safari": 80, "chrome": 16, "firefox": 2, "unknown": 2},
    "windows": {"chrome": 64, "edge": 24, "firefox": 10, "unknown": 2},
    "mac os x": {"safari": 52, "chrome": 38, "firefox": 8, "edge": 2},
    "linux": {"chrome": 55, "firefox": 43, "unknown": 2},
    "unknown": {"unknown": 70, "chrome": 30},
}
# BE on 1,340 of 1,633 lines; the rest mostly from neighbours.
COUNTRIES = {"BE": 1340, "NL": 95, "FR": 70, "DE": 35, "LU": 25, "GB": 22, "US": 20, "ES": 8, "IT": 8,
             "PL": 5, "IN": 5}
PROBE_PATHS = ("admin", "admin/login.php", "admin/config.php", "administrator/index.php", "wp-admin/",
               "admin/.env", "phpmyadmin/")


@dataclass(frozen=True)
class Dirt:
    """How often each kind of dirty data or anomaly appears (a share of events, 0 = never)."""

    nulls: float = 0.0       # one field set to null
    lowercase: float = 0.0   # country code in lower case
    missing: float = 0.0     # some fields left out
    burst: float = 0.0       # chance per event that one visitor starts a DDoS-like burst
    probes: float = 0.0      # an /admin-like URL instead of an article
    burst_size: int = 50


def load_titles() -> list[str]:
    """Return the shipped list of real Wikipedia article titles, most popular first."""
    text = resources.files("clickkit").joinpath("data/wikipedia_titles.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def article_url(title: str) -> str:
    """Return the percent-encoded Wikipedia URL of a title (spaces become underscores, as on Wikipedia)."""
    return WIKI + quote(title.replace(" ", "_"), safe=URL_SAFE)


def pick(rng: random.Random, weights: dict) -> str:
    """Draw one key of a {value: weight} table."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def new_visitor(rng: random.Random) -> dict:
    """Draw the visitor_* fields of one visitor, with platform, OS and browser that fit together."""
    platform = pick(rng, PLATFORMS)
    os_name = pick(rng, OSES[platform])
    return {"visitor_platform": platform, "visitor_os": os_name, "visitor_browser": pick(rng, BROWSERS[os_name]),
            "visitor_country": pick(rng, COUNTRIES)}


def page_views(rng: random.Random, titles: list[str], popularity: list[float]):
    """Yield (ms since the session began, event) for one session: open, scroll down, follow a link."""
    visitor, now = new_visitor(rng), 0
    title = rng.choices(titles, weights=popularity)[0]
    while True:
        page_length = rng.randint(1500, 30000)  # pixels
        timer = height = 0
        yield now, {"article": article_url(title), "article_title": title, "visitor_page_timer": 0,
                    "visitor_page_height": 0, **visitor}
        for _ in range(rng.choice((0, 1, 2, 3, 4, 5, 6))):
            step = int(rng.lognormvariate(8.3, 0.9))  # ms between scrolls: a median of about 4 s
            timer += step
            height = min(page_length, height + rng.randint(200, 4000))
            yield now + timer, {"article": article_url(title), "article_title": title, "visitor_page_timer": timer,
                                "visitor_page_height": height, **visitor}
        if rng.random() > 0.65:  # about a third of page views end the visit
            return
        now += timer + rng.randint(300, 8000)
        title = rng.choices(titles, weights=popularity)[0]


def dirty(rng: random.Random, event: dict, dirt: Dirt) -> dict:
    """Return the event with the dirt the options ask for."""
    event = dict(event)
    if dirt.probes and rng.random() < dirt.probes:
        path = rng.choice(PROBE_PATHS)
        event.update(article="https://en.wikipedia.org/" + path, article_title=path)
    if dirt.lowercase and rng.random() < dirt.lowercase:
        event["visitor_country"] = event["visitor_country"].lower()
    if dirt.nulls and rng.random() < dirt.nulls:
        event[rng.choice(FIELDS)] = None
    if dirt.missing and rng.random() < dirt.missing:
        for field in rng.sample(FIELDS, rng.randint(1, 4)):
            event.pop(field)
    return event


def event_ids(seed: int):
    """Yield the event ids of a seed's clicks: random UUIDs, the same for the same seed."""
    # A generator of its own, so that adding ids changed no other value the seed gives.
    rng = random.Random(f"event_id-{seed}")
    while True:
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate(seed: int = 0, start_ms: int = DEFAULT_START_MS, dirt: Dirt = Dirt(), titles=None):
    """Yield click events forever, in time order, from ACTIVE_VISITORS interleaved sessions, each with its event_id."""
    for event, event_id in zip(clicks(seed, start_ms, dirt, titles), event_ids(seed)):
        event[schema.EVENT_ID] = event_id  # after the dirt: a click keeps its id however dirty it is
        yield event


def clicks(seed: int, start_ms: int, dirt: Dirt, titles=None):
    """Yield the clicks of generate() without their ids."""
    rng = random.Random(seed)
    titles = titles or load_titles()
    popularity = [1 / (rank + 10) for rank in range(len(titles))]  # a long tail, like real page views
    order = itertools.count()  # breaks ties in the heap without comparing generators
    sessions = []
    for _ in range(ACTIVE_VISITORS):
        session = page_views(rng, titles, popularity)
        begin = start_ms + rng.randint(0, 10_000)
        offset, event = next(session)
        heapq.heappush(sessions, (begin + offset, next(order), begin, event, session))
    while True:
        ts, _, begin, event, session = heapq.heappop(sessions)
        yield from burst(rng, ts, event, dirt) if dirt.burst and rng.random() < dirt.burst else ()
        yield dirty(rng, {"ts_ingest": ts, **event}, dirt)
        try:
            offset, event = next(session)
        except StopIteration:  # the visitor left: someone new arrives a little later
            session, begin = page_views(rng, titles, popularity), ts + rng.randint(0, 3000)
            offset, event = next(session)
        heapq.heappush(sessions, (begin + offset, next(order), begin, event, session))


def burst(rng: random.Random, ts: int, event: dict, dirt: Dirt):
    """Yield a DDoS-like burst: one visitor hammering the same page a few ms apart."""
    timer = event["visitor_page_timer"]
    for _ in range(dirt.burst_size):
        step = rng.randint(1, 5)
        ts, timer = ts + step, timer + step
        yield {"ts_ingest": ts, **event, "visitor_page_timer": timer}


def take(events, count: int) -> list[dict]:
    """Return the first `count` events."""
    return list(itertools.islice(events, count))

