"""similarity.html: a class of lab 01 notebooks, honest variants and one renamed copy, the given code subtracted."""

import copy
import re
import textwrap

import nbformat
import pytest

from clickkit.config import REPO_ROOT
from clickkit.course.check_cells import is_check
from clickkit.course.exercises import BEGIN, END
from clickkit.grading import similarity

EXERCISE = nbformat.read(REPO_ROOT / "notebooks" / "01-ingest-api.ipynb", as_version=4)
SOLUTION = nbformat.read(REPO_ROOT / "solutions" / "01-ingest-api.ipynb", as_version=4)
READ, PRODUCER, VIEW = "64b27322", "6929496b", "b4070562"  # the cells of the three solution regions
INJECTION = "</pre><script>alert(1)</script>"


def solution_region(cell_id: str) -> str:
    """Return the solution's code between its BEGIN and END lines in this cell."""
    source = next(cell.source for cell in SOLUTION.cells if cell.get("id") == cell_id)
    return textwrap.dedent(source.split(BEGIN + "\n", 1)[1].split(END, 1)[0])


def written(cell_source: str, code: str) -> str:
    """Return an exercise cell with its stub (a comment and a raise) replaced by the code, at the stub's indent."""
    lines = cell_source.splitlines()
    at = next(number for number, line in enumerate(lines) if line.strip() == "# YOUR CODE HERE")
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    return "\n".join(lines[:at] + textwrap.indent(textwrap.dedent(code), indent).splitlines() + lines[at + 2 :])


def notebook_of(regions: dict) -> bytes:
    """Return a student's notebook file: the exercise with {cell id: their code} written in."""
    notebook = copy.deepcopy(EXERCISE)
    for cell in notebook.cells:
        if cell.get("id") in regions:
            cell.source = written(cell.source, regions[cell["id"]])
    return nbformat.writes(notebook).encode()


HONEST = {
    "bo": {
        READ: """
            if request.mimetype != "application/json":
                raise BadRequest("Only application/json is accepted.", 415)
            raw = request.get_data()
            try:
                body = json.loads(raw, parse_constant=refuse_constant, parse_float=finite_float)
            except (UnicodeDecodeError, ValueError) as problem:
                raise BadRequest(f"Could not read the JSON: {problem}") from None
            if type(body) is not dict:
                raise BadRequest("Send a JSON object.")
            return body


        def refuse_constant(word):
            raise ValueError("not JSON: " + word)


        def finite_float(digits):
            value = float(digits)
            if math.isinf(value):
                raise ValueError("too big")
            return value
        """,
        PRODUCER: """
            options = dict(acks="all", bootstrap_timeout_ms=3000, max_block_ms=3000, request_timeout_ms=2000)
            options["delivery_timeout_ms"] = 5000
            return KafkaProducer(bootstrap_servers=bootstrap_servers, value_serializer=JsonSerializer(), **options)
        """,
        VIEW: """
            try:
                click = read_click()
            except BadRequest as no:
                return jsonify(error=no.message), no.status
            try:
                future = producer().send(app.config["CLICKS_TOPIC"], click)
                where = future.get(timeout=SEND_TIMEOUT_S)
            except KafkaError:
                forget_producer()
                return jsonify(error="Kafka is unavailable; the click may not be stored."), 503, {"Retry-After": "5"}
            return jsonify(topic=where.topic, partition=where.partition, offset=where.offset)
        """,
    },
    "cy": {
        READ: """
            kind = request.headers.get("Content-Type", "")
            if not kind.startswith("application/json"):
                raise BadRequest("wrong content type", 415)
            data = request.get_json(silent=True)
            if data is None:
                raise BadRequest("invalid JSON, or not UTF-8")
            if not isinstance(data, dict):
                raise BadRequest("not an object")
            bad = [v for v in data.values() if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                raise BadRequest("NaN or Infinity are not numbers of JSON")
            return data
        """,
        PRODUCER: """
            def producer_options(seconds):
                waits = {"max_block_ms": seconds, "bootstrap_timeout_ms": seconds, "request_timeout_ms": seconds // 2}
                waits["delivery_timeout_ms"] = seconds + 2000
                return waits

            serialize = lambda value: json.dumps(value).encode("utf-8")
            made = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", value_serializer=serialize,
                                 **producer_options(2500))
            return made
        """,
        VIEW: """
            try:
                payload = read_click()
            except BadRequest as error:
                return {"error": error.message}, error.status
            result = None
            try:
                result = producer().send(app.config["CLICKS_TOPIC"], payload).get(SEND_TIMEOUT_S)
            except KafkaError as failure:
                forget_producer()
                response = jsonify(error=f"it may not be stored: {failure}")
                response.status_code = 503
                response.headers["Retry-After"] = "10"
                return response
            return {"topic": result.topic, "partition": result.partition, "offset": result.offset}
        """,
    },
    "dee": {
        READ: """
            problems = [(request.mimetype == "application/json", "Content-Type must be application/json", 415)]
            problems.append((bool(request.data), "empty body", 400))
            for fine, why, status in problems:
                if not fine:
                    raise BadRequest(why, status)
            try:
                parsed = json.loads(request.data.decode(), parse_constant=lambda name: 1 / 0)
            except (ValueError, ZeroDivisionError):
                raise BadRequest("the body must be strict JSON") from None
            numbers = [n for n in parsed.values() if isinstance(n, float)] if isinstance(parsed, dict) else [0.0]
            if not isinstance(parsed, dict) or not all(map(math.isfinite, numbers)):
                raise BadRequest("one JSON object with finite numbers, please")
            return parsed
        """,
        PRODUCER: """
            kafka = KafkaProducer(
                value_serializer=JsonSerializer(),
                delivery_timeout_ms=4500,
                request_timeout_ms=1000,
                max_block_ms=2000,
                bootstrap_timeout_ms=2000,
                acks=-1,
                bootstrap_servers=bootstrap_servers,
            )
            return kafka
        """,
        VIEW: """
            status, body, headers = 200, {}, {}
            try:
                sent = producer().send(app.config["CLICKS_TOPIC"], read_click())
                meta = sent.get(timeout=SEND_TIMEOUT_S)
                body = {key: getattr(meta, key) for key in ("topic", "partition", "offset")}
            except BadRequest as refusal:
                status, body = refusal.status, {"error": refusal.message}
            except KafkaError:
                forget_producer()
                status, body, headers = 503, {"error": "may not have been stored, retry"}, {"Retry-After": "3"}
            return jsonify(body), status, headers
        """,
    },
    "eve": {
        READ: """
            def fail(message, status=400):
                raise BadRequest(message, status)

            if "json" not in (request.content_type or ""):
                fail("I only read JSON", 415)
            try:
                text = str(request.get_data(), "utf-8")
                value = json.loads(text, parse_constant=lambda c: fail(c + " is not allowed"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                fail("broken body")
            if isinstance(value, dict) and "Infinity" not in text and "1e999" not in text:
                return value
            fail("expected an object")
        """,
        PRODUCER: """
            settings_for_kafka = {"acks": "all"}
            for name in ("max_block_ms", "bootstrap_timeout_ms"):
                settings_for_kafka[name] = 3000
            settings_for_kafka.update(request_timeout_ms=1500, delivery_timeout_ms=4000)
            serializer = JsonSerializer()
            return KafkaProducer(bootstrap_servers=bootstrap_servers, value_serializer=serializer, **settings_for_kafka)
        """,
        VIEW: """
            try:
                record = producer().send(app.config["CLICKS_TOPIC"], read_click()).get(timeout=SEND_TIMEOUT_S)
                return jsonify(topic=record.topic, partition=record.partition, offset=record.offset)
            except BadRequest as why:
                return jsonify(error=why.message), why.status
            except KafkaError:
                forget_producer()
                return jsonify(error="no confirmation from Kafka: it may not be stored"), 503, {"Retry-After": "2"}
        """,
    },
}
RENAMES = {  # cy's code with every one of its own names changed: fay's
    "kind": "header",
    "data": "parsed_body",
    "bad": "non_finite",
    "v": "item",
    "producer_options": "timeouts_for",
    "seconds": "limit_ms",
    "waits": "config",
    "serialize": "to_bytes",
    "value": "obj",
    "made": "kafka_producer",
    "payload": "the_click",
    "error": "exc",
    "result": "stored",
    "failure": "why",
    "response": "answer",
}


def renamed(code: str) -> str:
    """Return the code with each of RENAMES' names replaced as a whole word."""
    return re.sub(r"\b(" + "|".join(RENAMES) + r")\b", lambda match: RENAMES[match[1]], code)


def fay() -> dict:
    return {cell_id: renamed(code) for cell_id, code in HONEST["cy"].items()}


@pytest.fixture(scope="module")
def notebooks() -> dict:
    """The class: the solution itself, four honest variants, a renamed copy, and two untouched exercises."""
    ada = {cell_id: solution_region(cell_id) for cell_id in (READ, PRODUCER, VIEW)}
    written_in = {"ada": ada, **HONEST, "fay": fay(), "gus": {}, "hal": {}}
    return {login: notebook_of(regions) for login, regions in written_in.items()}


@pytest.fixture(scope="module")
def codes(notebooks) -> dict:
    return {login: similarity.student_code(data, EXERCISE) for login, data in notebooks.items()}


def test_the_renamed_copy_is_the_top_pair_and_well_above_every_honest_pair(codes):
    ranked = similarity.pairs(codes, similarity.exercise_code(EXERCISE))
    assert (ranked[0].login_a, ranked[0].login_b) == ("cy", "fay")
    assert ranked[0].score > 0.9
    honest = [pair.score for pair in ranked[1:]]
    assert max(honest) < ranked[0].score - 0.2, [(p.login_a, p.login_b, round(p.score, 2)) for p in ranked[:6]]


def test_the_untouched_exercise_has_no_code_of_its_own(codes):
    assert codes["gus"] == codes["hal"] == ""
    ranked = similarity.pairs(codes, similarity.exercise_code(EXERCISE))
    assert all(pair.score == 0 for pair in ranked if {"gus", "hal"} & {pair.login_a, pair.login_b})


def test_the_given_code_is_subtracted_so_two_whole_exercises_score_zero():
    given = similarity.exercise_code(EXERCISE)
    whole = {"gus": given, "hal": given}  # every code cell, not only the student's: the boilerplate is what is removed
    assert similarity.pairs(whole, given)[0].score == 0
    assert similarity.pairs(whole, "")[0].score > 0.99  # without the subtraction they would be a perfect pair


def test_student_code_leaves_out_the_checks_even_edited_or_copied_and_the_untouched_cells(notebooks):
    notebook = nbformat.reads(notebooks["bo"].decode(), as_version=4)
    checks = [cell for cell in notebook.cells if is_check(cell)]
    checks[0].source += "\nprint('I changed the check')"
    copied = nbformat.v4.new_code_cell(checks[1].source)  # a new id, as a copy in JupyterLab gets
    notebook.cells.append(copied)
    mine = nbformat.v4.new_code_cell("print('my own cell')")
    notebook.cells.append(mine)
    code = similarity.student_code(nbformat.writes(notebook).encode(), EXERCISE)
    assert "with check(" not in code and "I changed the check" not in code
    assert "my own cell" in code and "Only application/json is accepted." in code
    assert "require_kafka(settings)" not in code  # a given cell the student left alone


def test_the_page_says_evidence_not_penalty_and_shows_both_codes_escaped_side_by_side(notebooks, tmp_path):
    attacker = {  # the same code in two notebooks: a pair, whose code and logins must stay text
        READ: f"""
            payload = {{"note": "{INJECTION}"}}  # {INJECTION}
            payload.update(request.get_json(silent=True) or {{}})
            return {{key: value for key, value in payload.items() if key not in ("a", "b")}}
        """
    }
    notebooks = {**notebooks, "<b>mallory</b>": notebook_of(attacker), "trent": notebook_of(attacker)}
    notebooks["broken"] = b"{not json " + INJECTION.encode()
    path = tmp_path / similarity.PAGE
    shown = similarity.report_notebooks(notebooks, REPO_ROOT / "notebooks" / "01-ingest-api.ipynb", path, top=5)
    page = path.read_text(encoding="utf-8")
    assert len(shown) == 5 and {(pair.login_a, pair.login_b) for pair in shown} >= {
        ("cy", "fay"),
        ("<b>mallory</b>", "trent"),
    }
    assert "never a penalty" in page and page.index("never a penalty") < page.index("<table>")
    assert "<script>" not in page and "<b>mallory" not in page and INJECTION not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;mallory&lt;/b&gt;" in page
    assert "broken: not a Jupyter notebook in JSON" in page
    copy_pair = page[page.index("cy and fay") :].split("</section>")[0]
    left, right = copy_pair.split('<div class="side">')[1].split("<pre>")[1:3]
    assert "producer_options" in left and "timeouts_for" in right and "<mark>" in left and "<mark>" in right


def test_marked_code_escapes_every_piece_and_keeps_the_text():
    code = f"a = 1\nb = '{INJECTION}'\n"
    html_text = similarity.marked(code, similarity.spans([[2, 0, 200], [12, 3, 300]]))  # overlapping, past the end
    assert "<script>" not in html_text and html_text.count("<mark>") == 1
    assert html_text.replace("<mark>", "").replace("</mark>", "") == similarity.html.escape(code)


def test_a_class_where_no_one_shares_code_says_so(tmp_path):
    path = tmp_path / similarity.PAGE
    assert similarity.report({"a": "x = 1\n", "b": ""}, "", path) == []
    assert "No two students share any code of their own." in path.read_text(encoding="utf-8")
    assert "similarity.html" in similarity.gradebook_line([])
