"""The student's kit names only what it has: every make target, path and command option its files mention."""

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import nbformat

from clickkit.config import REPO_ROOT

RULE = re.compile(r"^([a-z][\w-]*):", re.MULTILINE)
MAKE = re.compile(r"\bmake ([a-z][\w-]*)( [A-Z_]+=)?")
MAKE_ARGS = re.compile(r"\bmake ([a-z][\w-]*) ARGS=[\"']([^\"']*)")
PYTHON_M = re.compile(r"\bpython3? -m (clickkit[\w.]*)([^`\n#\"]*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
ROW_OPTION = re.compile(r"^\| `(--[a-z][\w-]*)", re.MULTILINE)  # a flags table's first column
PATH = re.compile(r"`((?:\.\./)?(?:src|tests|docs|notebooks|solutions|site|clickkit|\.ci|\.devcontainer)/[^`\s]*)`")
FILE = re.compile(r"`([\w./-]+\.(?:md|ipynb|py|yml|toml|cfg|txt|sh))`")
LINK = re.compile(r"\]\(([\w./-]+)(?:#[\w-]*)?\)")  # a Markdown link to a file of the kit
PLACEHOLDER = re.compile(r"\bNN\b|\bNAME\b|<")


def targets(makefile: Path) -> set:
    """Return the rules a Makefile defines."""
    return set(RULE.findall(makefile.read_text(encoding="utf-8")))


def texts(dest: Path) -> dict:
    """Return {file: text} of what the student reads: README, docs, notebooks (Markdown and code), Makefile."""
    found = {"README.md": (dest / "README.md").read_text(encoding="utf-8")}
    found |= {f"docs/{page.name}": page.read_text(encoding="utf-8") for page in (dest / "docs").glob("*.md")}
    for notebook in sorted((dest / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(notebook, as_version=4).cells
        found[f"notebooks/{notebook.name}"] = "\n".join(cell.source for cell in cells)
    help_lines = re.findall(r'@echo "(make .*)"', (dest / "Makefile").read_text(encoding="utf-8"))
    # A help line lists targets as "make a | b | c ARGS=...": each part after a | is a target too.
    found["Makefile"] = "\n".join(f"`make {part.strip()}`" for line in help_lines for part in line[5:].split("|"))
    return found


@cache
def options_of(dest: Path, module: str) -> frozenset:
    """Return the options `python -m module --help` lists, run in the release with the release's code."""
    env = {**os.environ, "PYTHONPATH": str(dest / "src")}
    shown = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=dest, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, f"python -m {module} --help failed in the release: {shown.stderr[-1000:]}"
    return frozenset(OPTION.findall(shown.stdout))


def recipe_modules(dest: Path) -> dict:
    """Return {target: the module its recipe runs with $(ARGS)} of the release's Makefile."""
    makefile = (dest / "Makefile").read_text(encoding="utf-8")
    return dict(re.findall(r"^([a-z][\w-]*):.*\n(?:\t.*\n)*?\t.*-m ([\w.]+) \$\(ARGS\)", makefile, re.MULTILINE))


def exists(dest: Path, where: str, path: str) -> bool:
    """Tell whether a path a file names is in the release: from its root, the package, the file's folder, or by name."""
    path = path.rstrip("/")
    bases = [dest, dest / "src", (dest / where).parent]
    return any((base / path).exists() for base in bases) or any(dest.rglob(Path(path).name))


def wrong_mentions(dest: Path) -> list:
    """Return 'file: what' for every target, path or option a release's file names that the release lacks."""
    ours, kits = targets(dest / "Makefile"), targets(REPO_ROOT / "Makefile") | targets(dest / "Makefile")
    modules, wrong = recipe_modules(dest), []
    every_option = set().union(*(options_of(dest, module) for module in set(modules.values())))
    for where, text in texts(dest).items():
        for target, variable in MAKE.findall(text):
            if (target in kits or variable) and target not in ours:  # "make sure" is English, not a target
                wrong.append(f"{where}: make {target}")
        for target, args in MAKE_ARGS.findall(text):
            if target in modules:
                wrong += [
                    f"{where}: make {target} {o}"
                    for o in OPTION.findall(args)
                    if o not in options_of(dest, modules[target])
                ]
        for module, rest in PYTHON_M.findall(text):
            wrong += [
                f"{where}: python -m {module} {o}" for o in OPTION.findall(rest) if o not in options_of(dest, module)
            ]
        wrong += [f"{where}: option {o}" for o in ROW_OPTION.findall(text) if o not in every_option]
        named = PATH.findall(text) + FILE.findall(text)
        named += [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]
        wrong += [
            f"{where}: {path}" for path in named if not PLACEHOLDER.search(path) and not exists(dest, where, path)
        ]
    return sorted(set(wrong))


def test_the_release_names_only_targets_paths_and_options_it_has(release):
    assert wrong_mentions(release[0]) == []


def test_the_check_targets_usage_names_every_notebook(release):
    dest = release[0]
    for makefile in (dest / "Makefile", REPO_ROOT / "Makefile"):
        usage = next(line for line in makefile.read_text(encoding="utf-8").splitlines() if "Usage: make check" in line)
        missing = [path.stem for path in (dest / "notebooks").glob("*.ipynb") if path.stem not in usage]
        assert missing == [], f"{makefile}: make check's usage line leaves out {missing}"


def test_the_scan_finds_what_the_instructors_docs_name(release, tmp_path):
    import shutil

    copy = tmp_path / "kit"
    shutil.copytree(release[0], copy)
    shutil.copy(REPO_ROOT / "docs" / "traffic.md", copy / "docs" / "traffic.md")
    with (copy / "README.md").open("a", encoding="utf-8") as readme:
        readme.write(
            '`make fake-website ARGS="--with-solution"`, `python -m clickkit.traffic --fast`\n| `--slow` | |\n'
        )
    found = wrong_mentions(copy)
    for wrong in ("make demo-site", "tests/traffic/test_traffic.py", "site/", "fake-website --with-solution"):
        assert any(line.endswith(wrong) for line in found), (wrong, found)
    assert {"README.md: python -m clickkit.traffic --fast", "README.md: option --slow"} <= set(found), found
