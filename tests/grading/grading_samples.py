"""Sample submissions generated from the lesson's solution, each with one small patch, and the checks each loses."""

from pathlib import Path

import nbformat

from clickkit.grading import rubric
from clickkit.grading.grade import SOLUTION

EVERYTHING = {check.key for check in rubric.RUBRIC}
VIEW_SEND = 'producer().send(app.config["CLICKS_TOPIC"], event)'
VIEW_REFUSAL = (
    "        except BadRequest as refused:\n            return jsonify(error=refused.message), refused.status\n"
)
VISIBLE_BAD = ['{"article_title": ', "[1, 2]", "null", "42", '{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}']
ESCAPE = """
import glob, os
escaped = []
for path in glob.glob("{class_folder}/*.ipynb") + ["{solutions}", os.path.expanduser("~root/.bashrc")]:
    try:
        open(path).read(1)
        escaped.append("read " + path)
    except OSError:
        pass
for path in ["{class_folder}/planted.txt", "{outside}/planted.txt", "/planted.txt"]:
    try:
        open(path, "w").write("escaped")
        escaped.append("wrote " + path)
    except OSError:
        pass
assert not escaped, escaped
"""
FORK_BOMB = """
import os, time
while True:
    try:
        child = os.fork() == 0
    except OSError:
        break
    if child:
        while True:  # every child forks on, then holds its process slot
            try:
                os.fork()
            except OSError:
                time.sleep(3600)
"""

# name -> (patches, checks lost). A patch is (old, new): replace old in the first code cell that has it,
# or (None, code): add a code cell with that code after the first cell.
SAMPLES = {
    "wrong-topic": (
        [(VIEW_SEND, 'producer().send("click", event)')],
        {"click_on_topic", "clicks_in_order", "rejects_write_nothing", "runs_cleanly"},
    ),
    "str-dict": (
        [("value_serializer=JsonSerializer(),", "value_serializer=lambda event: str(event).encode(),")],
        {"click_on_topic", "clicks_in_order", "runs_cleanly"},
    ),
    "no-400-handling": (
        [(VIEW_REFUSAL, "")],
        {"invalid_json", "not_an_object", "strict_json", "content_type", "runs_cleanly"},
    ),
    "text-answer": (
        [
            (
                "return jsonify(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)",
                'return f"stored at offset {metadata.offset}"',
            )
        ],
        {"body_keys", "runs_cleanly"},
    ),
    "no-retry-after": ([('{"Retry-After": "5"}', "{}")], {"unavailable_503", "runs_cleanly"}),
    "hard-codes-visible-checks": (
        [
            (
                "        data = json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)",
                f"        if text in {VISIBLE_BAD!r}:\n            raise BadRequest('bad')\n"
                "        return json.loads(text)\n        data = None",
            )
        ],
        {"not_an_object", "strict_json", "rejects_write_nothing", "runs_cleanly"},
    ),
    "infinite-loop": ([(None, "while True:\n    pass")], {"runs_cleanly"}),
    "prints-100000-lines": ([(None, "for n in range(100_000):\n    print('line', n)")], {"runs_cleanly"}),
    "crash-at-import": ([("import json\nimport math", "import kafka_python\nimport json\nimport math")], EVERYTHING),
    "kernel-dies": ([(None, "import os\nos._exit(1)")], EVERYTHING),
    "allocates-10-gib": ([(None, "memory = bytearray(10 * 2**30)")], {"runs_cleanly"}),
    "tries-to-escape": ([(None, ESCAPE)], set()),
    "fork-bomb": ([(None, FORK_BOMB)], None),  # what it loses depends on when the slots run out
}


def write_sample(name: str, folder: Path, **values) -> Path:
    """Write sample `name`, generated from the solution, into folder; return its path."""
    notebook = nbformat.read(SOLUTION, as_version=4)
    for old, new in SAMPLES[name][0]:
        if old is None:
            notebook.cells.insert(1, nbformat.v4.new_code_cell(new.format(**values).strip()))
            continue
        replace_in_code(notebook, old, new)
    return save(notebook, folder, name)


def replace_in_code(notebook, old: str, new: str) -> None:
    """Replace the first `old` in the first code cell that has it."""
    cell = next(c for c in notebook.cells if c.cell_type == "code" and old in c.source)
    cell.source = cell.source.replace(old, new, 1)


def save(notebook, folder: Path, name: str) -> Path:
    """Write the notebook as folder/name.ipynb; return its path."""
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path
