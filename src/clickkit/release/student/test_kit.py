"""The student's kit itself: every module imports, Kafka answers, and make check runs a notebook's own checks.

Nothing here depends on the student's progress: the notebooks' tasks are make check's, not make test's.
"""

import importlib
import re
import shutil
from pathlib import Path

import pytest

from clickkit.broker.topics import producer, read_topic
from clickkit.course import selfcheck
from clickkit.course.checks import STUB_MARK

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(path.relative_to(ROOT / "src").with_suffix("").parts).removesuffix(".__init__")
    for path in (ROOT / "src" / "clickkit").rglob("*.py")
    if path.name != "__main__.py"
)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name):
    assert importlib.import_module(name).__name__ == name


def test_kafka_stores_a_record_and_gives_it_back(bootstrap_servers, topic):
    sender = producer(bootstrap_servers, timeout_s=30)
    try:
        sender.send(topic, b"hello from make test").get(timeout=30)
    finally:
        sender.close(timeout=10)
    assert read_topic(bootstrap_servers, topic, timeout_s=30) == [b"hello from make test"]


def test_make_check_runs_the_notebooks_own_checks(tmp_path, capsys, bootstrap_servers):
    # The course's untouched 00, not the student's: its checks fail the same way whatever the student has done.
    notebook = tmp_path / "00-intro.ipynb"
    shutil.copy(selfcheck.ORIGINALS_DIR / "00-intro.ipynb", notebook)
    assert selfcheck.main([str(notebook)]) == 1
    printed = capsys.readouterr().out
    assert "✗ " in printed and STUB_MARK in printed, printed[-2000:]
    assert re.search(r"\n0 of [1-9]\d* checks passed in 00-intro\.ipynb", printed), printed[-2000:]
