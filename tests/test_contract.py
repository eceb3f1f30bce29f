"""The course's contract, written once: consistent in itself, read by every tool, and no copy of it drifting."""

import re

import nbformat
import pytest

from clickkit import config, contract
from clickkit.config import REPO_ROOT
from clickkit.course import markers
from clickkit.errors import MarkerError


def test_the_reference_endpoint_answers_before_the_bound_it_promises():
    assert 0 < contract.REFERENCE_DEADLINE_S < contract.UNAVAILABLE_WITHIN_S
    assert contract.MAX_BODY_BYTES == contract.MAX_BODY_KIB * 1024


def test_each_rubric_check_has_its_own_key_and_points_that_add_up():
    keys = [check.key for check in contract.RUBRIC]
    assert len(keys) == len(set(keys)) == len(contract.CHECKS)
    assert all(check.points > 0 and check.requirement for check in contract.RUBRIC)
    assert contract.MAX_POINTS == sum(check.points for check in contract.RUBRIC)


def test_the_rubrics_wording_states_the_contracts_values():
    checks = contract.CHECKS
    assert f"within {contract.UNAVAILABLE_WITHIN_S} s" in checks["unavailable_503"].requirement
    assert checks["unavailable_503"].requirement.startswith(str(contract.UNAVAILABLE))
    assert f"over {contract.MAX_BODY_KIB} KiB" in checks["too_large"].requirement
    assert f"`{contract.TOPIC}`" in checks["click_on_topic"].requirement
    assert all(f'"{key}"' in checks["body_keys"].requirement for key in contract.OK_BODY_KEYS)


def test_the_contract_which_students_receive_holds_none_of_the_graders_advice():
    from clickkit.grading import rubric

    source = open(contract.__file__, encoding="utf-8").read()
    assert set(rubric.ADVICE) == set(contract.CHECKS)
    assert [key for key, advice in rubric.ADVICE.items() if advice in source or "jsonify(" in source] == []


def test_the_tools_read_the_contract():
    from clickkit.grading import rubric
    from clickkit.ingest import app as ingest_app
    from clickkit.reliability import scenarios
    from clickkit.traffic import send

    assert [(check.key, check.points, check.requirement) for check in rubric.RUBRIC] == [
        (line.key, line.points, line.requirement) for line in contract.RUBRIC
    ]
    assert rubric.MAX_POINTS == contract.MAX_POINTS and rubric.REPLY_WITHIN_S == contract.UNAVAILABLE_WITHIN_S
    app = ingest_app.create_app({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert app.config["MAX_CONTENT_LENGTH"] == contract.MAX_BODY_BYTES
    assert app.config["REPLY_WITHIN_S"] == contract.REFERENCE_DEADLINE_S
    assert app.config["RETRY_AFTER_S"] == contract.RETRY_AFTER_S
    assert config.load_settings({}).topic == contract.TOPIC
    defaults = [
        send.send.__defaults__,
        scenarios.outage_scenarios.__defaults__,
        scenarios.cluster_scenario.__defaults__,
    ]
    assert all(contract.TOPIC in found for found in defaults), defaults


def test_a_marker_in_a_solution_shows_the_value_in_the_exercise():
    text = "Answer 503 within **{{ UNAVAILABLE_WITHIN_S }} seconds**, and 413 above {{MAX_BODY_KIB}} KiB."
    assert markers.fill(text, "here") == (
        f"Answer 503 within **{contract.UNAVAILABLE_WITHIN_S} seconds**, and 413 above {contract.MAX_BODY_KIB} KiB."
    )


def test_a_marker_in_the_docs_keeps_its_place_and_takes_the_value():
    text = "Within <!-- UNAVAILABLE_WITHIN_S -->99<!-- end --> s, on <!-- TOPIC -->`old`<!-- end -->."
    refreshed = markers.refresh(text, "docs")
    assert refreshed == (
        f"Within <!-- UNAVAILABLE_WITHIN_S -->{contract.UNAVAILABLE_WITHIN_S}<!-- end --> s, "
        f"on <!-- TOPIC -->`{contract.TOPIC}`<!-- end -->."
    )
    assert markers.refresh(refreshed, "docs") == refreshed


@pytest.mark.parametrize("text", ["{{ UNAVAILABLE_WITHIN_SECONDS }}", "<!-- NO_SUCH -->1<!-- end -->"])
def test_an_unknown_marker_is_an_error_that_lists_the_names(text):
    with pytest.raises(MarkerError, match="UNAVAILABLE_WITHIN_S"):
        markers.refresh(markers.fill(text, "cell 3"), "cell 3")


def test_the_docs_show_the_contracts_values():
    stale = markers.stale_docs()
    assert stale == [], f"{[str(path.relative_to(REPO_ROOT)) for path in stale]}: run make exercises"


def test_the_rubric_table_in_the_docs_is_the_contracts():
    text = (REPO_ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    for check in contract.RUBRIC:
        assert f"| `{check.key}` | {check.points} | {check.requirement} |" in text


# A statement of the contract's values written out by hand, where a marker belongs.
BY_HAND = [
    (r"503\W[^.|;]{0,60}?within \**\d+(\.\d+)? ?(s|seconds)\b", "the 503 bound: {{ UNAVAILABLE_WITHIN_S }}"),
    (r"\b\d+ ?KiB\b", "the size limit: {{ MAX_BODY_KIB }} KiB"),
    (r"\(\d+/\d+\)|\b\d+/\d+ points", "the points: {{ MAX_POINTS }}"),
    (rf"`{contract.TOPIC}`|\"{contract.TOPIC}\"", "the topic: `{{ TOPIC }}`"),
    # A measurement names the version it ran on ("Kafka 4.1.1 on the same machine"): that one stays.
    (r"Kafka \d+\.\d+\.\d+(?! on the same machine)", "the Kafka version: {{ KAFKA_VERSION }}"),
]


def unmarked_text() -> dict:
    """Return {where: text} of the docs and of the solutions' Markdown, with the markers and their values removed."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in markers.doc_pages()}
    for path in sorted((REPO_ROOT / "solutions").glob("*.ipynb")):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells, start=1):
            if cell.cell_type == "markdown":
                texts[f"{path.name}, cell {number}"] = cell.source
    return {
        where: markers.IN_PLACE.sub("(marked)", markers.PLACEHOLDER.sub("(marked)", text))
        for where, text in texts.items()
    }


def test_no_doc_or_solution_writes_a_value_of_the_contract_by_hand():
    found = [
        f"{where}: {match.group(0)!r} ({hint})"
        for where, text in unmarked_text().items()
        for pattern, hint in BY_HAND
        for match in re.finditer(pattern, text)
    ]
    assert not found, "\n".join(found)


def test_make_exercise_fills_the_markers_of_markdown_and_leaves_code_alone():
    from clickkit.course.exercises import make_exercise

    solution = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    solution.cells = [
        nbformat.v4.new_markdown_cell("# 09 · Demo (solution)\n\nA 503 within {{ UNAVAILABLE_WITHIN_S }} s."),
        nbformat.v4.new_code_cell('print(f"{{ UNAVAILABLE_WITHIN_S }}")'),
    ]
    markdown, code = make_exercise(solution, "09-demo.ipynb").cells
    assert markdown.source.endswith(f"A 503 within {contract.UNAVAILABLE_WITHIN_S} s.")
    assert code.source == 'print(f"{{ UNAVAILABLE_WITHIN_S }}")'


def test_a_list_of_names_in_backticks_is_not_wrapped_twice():
    text = "fields: <!-- CLICK_FIELD_NAMES -->`old`, `names`<!-- end -->."
    refreshed = markers.refresh(text, "docs")
    assert "``" not in refreshed and "`ts_ingest`, `article`," in refreshed
    assert markers.refresh(refreshed, "docs") == refreshed
