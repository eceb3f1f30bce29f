"""The click schema: what the generator makes, what dirt breaks, and the docs that list the fields."""

from clickkit import schema
from clickkit.config import REPO_ROOT
from clickkit.traffic.generate import Dirt, generate, take


def test_generated_traffic_follows_the_schema():
    assert [schema.problems(event) for event in take(generate(seed=5), 2000)] == [[]] * 2000
    assert schema.problems(schema.SAMPLE) == []


def test_each_kind_of_dirt_is_a_problem_the_schema_names():
    assert schema.problems({**schema.SAMPLE, "visitor_country": "be"}) == ["visitor_country 'be' is not two capitals"]
    assert schema.problems({**schema.SAMPLE, "ts_ingest": None}) == ["ts_ingest is None, not int"]
    assert "missing article" in schema.problems({k: v for k, v in schema.SAMPLE.items() if k != "article"})
    assert schema.problems([schema.SAMPLE]) == ["not a JSON object but list"]
    dirty = take(generate(seed=5, dirt=Dirt(nulls=0.1, lowercase=0.1, missing=0.1)), 2000)
    assert 200 < sum(bool(schema.problems(event)) for event in dirty) < 1000


def test_the_docs_and_the_lesson_name_every_field():
    for page in (REPO_ROOT / "docs" / "traffic.md", REPO_ROOT / "solutions" / "01-ingest-api.ipynb"):
        text = page.read_text(encoding="utf-8")
        missing = [name for name in schema.NAMES if f"`{name}`" not in text]
        assert not missing, f"{page.name} does not name {missing}"


def test_the_event_id_is_optional_but_when_present_a_uuid():
    assert schema.EVENT_ID not in schema.NAMES  # not one of the nine fields: a click without it is not dirty
    assert schema.problems(schema.SAMPLE) == []
    assert schema.problems(schema.sample(event_id="9f1c0a52-3d2e-4c1b-8e5f-2a6b7c8d9e0f")) == []
    for wrong in ("42", "", 42, None, "9F1C0A52-3D2E-4C1B-8E5F-2A6B7C8D9E0F-", "{9f1c0a52-3d2e-4c1b-8e5f-2a6b7c8d9e0f}"):
        assert schema.problems(schema.sample(event_id=wrong)) == [f"event_id {wrong!r} is not a UUID"], wrong


def test_the_docs_and_the_stream_lesson_name_the_event_id_and_say_the_endpoint_accepts_clicks_without_one():
    for page in (REPO_ROOT / "docs" / "traffic.md", REPO_ROOT / "solutions" / "04-stream.ipynb"):
        text = " ".join(page.read_text(encoding="utf-8").split())
        assert f"`{schema.EVENT_ID}`" in text, f"{page.name} does not name `{schema.EVENT_ID}`"
        assert "accepts clicks without an `event_id`" in text, f"{page.name} does not state that the id is optional"
