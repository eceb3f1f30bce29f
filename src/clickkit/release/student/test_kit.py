"""The student's kit itself: every module imports, and make check runs a notebook's own checks."""

import importlib
import shutil
from pathlib import Path

import pytest

from clickkit.course import selfcheck

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(".".join(path.relative_to(ROOT / "src").with_suffix("").parts).removesuffix(".__init__")
                 for path in (ROOT / "src" / "clickkit").rglob("*.py") if path.name != "__main__.py")


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name):
    assert importlib.import_module(name).__name__ == name


def test_make_check_runs_the_notebooks_own_checks(tmp_path, capsys, bootstrap_servers):
    notebook = tmp_path / "00-intro.ipynb"
    shutil.copy(ROOT / "notebooks" / "00-intro.ipynb", notebook)
    assert selfcheck.main([str(notebook)]) == 1
    printed = capsys.readouterr().out
    assert "✗ POST /ratings answers 201 with the rating for a valid one" in printed
    assert "rate() is not written yet" in printed and "0 of 3 checks passed in 00-intro.ipynb" in printed
