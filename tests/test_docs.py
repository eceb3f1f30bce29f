"""The docs name files that exist: a moved module or test leaves no stale path behind."""

import re

import pytest

from clickkit.config import REPO_ROOT
from clickkit.release.build import ORIGINALS

PAGES = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")])
# A path in backticks: from the repository's root, or inside the package (clickkit/...).
PATH = re.compile(r"`((?:src|tests|docs|solutions|notebooks|site|clickkit)/[\w./-]*)`")
# Paths of the student's kit, which make release writes: they exist there, not in this repository.
IN_THE_RELEASE = {f"{ORIGINALS}/", "tests/test_kit.py"}
PLACEHOLDER = re.compile(r"\b(NN|NAME)\b")  # solutions/NN-topic.ipynb stands for every notebook


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_path_a_page_names_exists(page):
    named = {path for path in PATH.findall(page.read_text(encoding="utf-8")) if not PLACEHOLDER.search(path)}
    named -= IN_THE_RELEASE
    missing = sorted(
        path for path in named if not (REPO_ROOT / path).exists() and not (REPO_ROOT / "src" / path).exists()
    )
    assert missing == [], f"{page.name} names paths that do not exist: {missing}"
