"""Write the student's kit: a git repository of one commit with the exercises, their helpers and no answer.

python -m clickkit.release DEST              (make release DEST=path)
python -m clickkit.release --answers DEST    (make answers DEST=path: to publish after the deadline)
"""

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from clickkit.config import REPO_ROOT
from clickkit.course.exercises import BEGIN, END, SOLUTIONS_DIR, render_exercise
from clickkit.errors import KitError
from clickkit.release.student_docs import for_students

STUDENT_DIR = Path(__file__).parent / "student"
# The release's own files, in place of the instructor's: its commands, its README, its tests and their plugins.
STUDENT_FILES = {
    "Makefile": "Makefile",
    "README.md": "README.md",
    "conftest.py": "conftest.py",
    "test_kit.py": "tests/test_kit.py",
    "given_cells.py": "tests/kit_pytest/given_cells.py",
}
# What the notebooks, make lab, make doctor, make check and the devcontainer need: nothing of the grader,
# the reference endpoint (src/clickkit/ingest), the demo, bench or reliability.
KIT_PATHS = [
    ".devcontainer/Dockerfile",
    ".devcontainer/devcontainer.json",
    "docker-compose.yml",
    ".gitignore",
    # Not notebook_rules.py: that an untouched exercise's checks fail is the instructor's test, not the student's.
    "tests/kit_pytest/__init__.py",
    "tests/kit_pytest/broker.py",
    "tests/kit_pytest/topics.py",
    "docs/setup.md",
    "docs/traffic.md",
    "src/clickkit/__init__.py",
    "src/clickkit/config.py",
    "src/clickkit/contract.py",
    "src/clickkit/errors.py",
    "src/clickkit/ports.py",
    "src/clickkit/schema.py",
    "src/clickkit/doctor.py",
    "src/clickkit/data",
    "src/clickkit/broker",
    "src/clickkit/traffic",
    "src/clickkit/course/__init__.py",
    "src/clickkit/course/checks.py",
    "src/clickkit/course/check_cells.py",
    "src/clickkit/course/selfcheck.py",
    "src/clickkit/course/endpoint.py",
    "src/clickkit/course/lab.py",
    "src/clickkit/course/notebook_server.py",
    "src/clickkit/course/stream.py",
]
# The release's dependencies: the kit's own pins, for the packages the files above import.
DEPENDENCIES = {
    "flask",
    "kafka-python",
    "jupyterlab",
    "ipython",
    "ipykernel",
    "requests",
    "tqdm",
    "nbformat",
    "nbclient",
    "crc32c",
    "psutil",
    "matplotlib",
}
DEV_DEPENDENCIES = {"pytest", "pytest-timeout", "nbval"}
# Functions the release leaves out of a file it copies: schema.problems() checks an event as 02 and 03 ask the
# student to (its first line is the whole of 02's Task 1), and nothing in the release calls it.
LEFT_OUT = {"src/clickkit/schema.py": ["problems"]}
ORIGINALS = "src/clickkit/course/originals"  # selfcheck.ORIGINALS_DIR: the checks make check restores
ANSWER_PATHS = ["solutions", "src/clickkit/ingest/app.py"]
AUTHOR = ["-c", "user.name=clickkit release", "-c", "user.email=release@clickkit.invalid"]


def package_name(requirement: str) -> str:
    """Return the name a requirement such as 'flask>=3.1,<4' is for."""
    return requirement.split(";")[0].strip().split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip()


def pyproject() -> str:
    """Return the release's pyproject.toml: the kit's metadata and pins, cut down to what the release holds."""
    kit = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project, pytest_ini = kit["project"], kit["tool"]["pytest"]["ini_options"]
    deps = [dep for dep in project["dependencies"] if package_name(dep) in DEPENDENCIES]
    dev = [dep for dep in project["optional-dependencies"]["dev"] if package_name(dep) in DEV_DEPENDENCIES]
    missing = (DEPENDENCIES | DEV_DEPENDENCIES) - {package_name(dep) for dep in deps + dev}
    if missing:
        raise KitError(f"pyproject.toml no longer lists {sorted(missing)}: update DEPENDENCIES in {__file__}.")

    def strings(values):
        return "[" + ", ".join(f'"{value}"' for value in values) + "]"

    lines = [
        "[build-system]",
        f"requires = {strings(kit['build-system']['requires'])}",
        f'build-backend = "{kit["build-system"]["build-backend"]}"',
        "",
        "[project]",
        f'name = "{project["name"]}"',
        f'version = "{project["version"]}"',
        f'description = "{project["description"]} (the student\'s kit)"',
        'readme = "README.md"',
        f'requires-python = "{project["requires-python"]}"',
        f"dependencies = {strings(deps)}",
        "",
        "[project.optional-dependencies]",
        f"dev = {strings(dev)}",
        "",
        "[tool.setuptools.packages.find]",
        'where = ["src"]',
        "",
        "[tool.setuptools.package-data]",
        'clickkit = ["data/*"]',
        '"clickkit.course" = ["originals/*.ipynb"]',
        "",
        "[tool.pytest.ini_options]",
        'testpaths = ["tests", "notebooks"]',
        # nbval-lax: a student's notebook holds the outputs of their own runs, which are theirs, not a reference.
        'addopts = "-p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=60 -r fEsxX"',
        f"timeout = {pytest_ini['timeout']}",
        f"filterwarnings = {strings(pytest_ini['filterwarnings'])}",
        f"markers = {strings(pytest_ini['markers'])}",
        "",
    ]
    return "\n".join(lines)


def copy_kit_path(relative: str, dest: Path) -> None:
    """Copy one file or folder of the kit into the release, without caches or the functions LEFT_OUT."""
    source = REPO_ROOT / relative
    if source.is_dir():
        shutil.copytree(source, dest / relative, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        (dest / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / relative)
        if relative in LEFT_OUT:
            (dest / relative).write_text(
                without_functions(source.read_text(encoding="utf-8"), LEFT_OUT[relative]), encoding="utf-8"
            )
        elif relative.startswith("docs/"):
            (dest / relative).write_text(for_students(source.read_text(encoding="utf-8"), relative), encoding="utf-8")


def without_functions(code: str, names: list) -> str:
    """Return Python code without its top-level functions of these names."""
    lines = code.splitlines(keepends=True)
    for node in sorted(ast.parse(code).body, key=lambda node: -node.lineno):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            del lines[node.lineno - 1 - len(node.decorator_list) : node.end_lineno]
    return "".join(lines).rstrip("\n") + "\n"


def solution_lines(solutions_dir: Path | None = None) -> dict:
    """Return {stripped line: where} for every line of a solution region that the exercise does not give anyway.

    Lines the exercises print outside any region (a worked example's `try:` or `consumer.close()`) are on the
    page for every student; a lone keyword (`continue`, `try:`), a bare `return True`, or a line without a letter
    or digit (`)`) says nothing.
    """
    import keyword
    import re

    generic = re.compile(
        # A bare return, a reset, or what the formatter leaves alone on a line: a name, a keyword argument.
        r"return (True|False|None|-?\d+)|[a-z_]+ = (0|\[\]|\{\}|set\(\)|None)|[\w.]+,?|\w+=[\w.\"']+,?"
    )

    import nbformat

    found, given = {}, set()
    for path in sorted((solutions_dir or SOLUTIONS_DIR).glob("*.ipynb")):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells, start=1):
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (BEGIN, END):
                    inside = line.strip() == BEGIN
                elif (
                    inside
                    and any(char.isalnum() for char in line)
                    and line.strip(" :") not in keyword.kwlist
                    and not generic.fullmatch(line.strip())
                ):
                    found.setdefault(line.strip(), f"{path.name}, cell {number}")
                elif not inside:
                    given.add(line.strip())
    return {line: where for line, where in found.items() if line not in given}


def answers_in(folder: Path, solutions_dir: Path | None = None) -> list:
    """Return 'file:line: text (from where)' for every line of a file in the folder that is a line of a solution."""
    answers, hits = solution_lines(solutions_dir), []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.relative_to(folder).parts):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not text: no line of code in it
        if path.suffix == ".ipynb":  # a notebook's JSON: look at its cells' lines
            import nbformat

            text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        for number, line in enumerate(text.splitlines(), start=1):
            where = answers.get(line.strip())
            if where:
                hits.append(f"{path.relative_to(folder)}:{number}: {line.strip()} (from {where})")
    return hits


def write_release(dest: Path) -> list:
    """Write the student's kit into dest (new or empty) as a git repository of one commit; return its files."""
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise KitError(f"{dest} is not empty: give a new folder, e.g. make release DEST=../clickkit-student.")
    if REPO_ROOT in [dest, *dest.parents]:
        raise KitError(f"{dest} is inside the instructor's kit: give a folder outside it, e.g. ../clickkit-student.")
    dest.mkdir(parents=True, exist_ok=True)
    for relative in KIT_PATHS:
        copy_kit_path(relative, dest)
    for solution in sorted(SOLUTIONS_DIR.glob("*.ipynb")):
        exercise = render_exercise(solution)
        for folder in ("notebooks", ORIGINALS):
            (dest / folder).mkdir(parents=True, exist_ok=True)
            (dest / folder / solution.name).write_text(exercise, encoding="utf-8")
    for name, relative in STUDENT_FILES.items():
        shutil.copy2(STUDENT_DIR / name, dest / relative)
    (dest / "pyproject.toml").write_text(pyproject(), encoding="utf-8")
    leaked = answers_in(dest)
    if leaked:
        raise KitError(
            f"The release in {dest} holds lines of the solutions, so it was not committed: " + "; ".join(leaked[:5])
        )
    git = ["git", "-C", str(dest)]
    # The commit says when the kit was released (students see its date); SOURCE_DATE_EPOCH, when set, pins it,
    # so that a rebuild of the same sources gives the same commit.
    when = f"@{int(os.environ.get('SOURCE_DATE_EPOCH') or time.time())} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, *AUTHOR, "commit", "-q", "-m", "The clickkit course: labs 00-04"], check=True, env=env)
    listed = subprocess.run([*git, "ls-files"], check=True, capture_output=True, text=True).stdout.split()
    return listed


def write_answers(dest: Path) -> list:
    """Copy the solution notebooks and the reference endpoint into dest, to publish after the deadline."""
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise KitError(f"{dest} is not empty: give a new folder, e.g. make answers DEST=../clickkit-answers.")
    for relative in ANSWER_PATHS:
        copy_kit_path(relative, dest)
    return sorted(str(path.relative_to(dest)) for path in dest.rglob("*") if path.is_file())


def main(argv=None) -> int:
    """Write the student's kit, or with --answers what to publish after the deadline."""
    parser = argparse.ArgumentParser(
        prog="python -m clickkit.release", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dest", type=Path, help="a new or empty folder, outside this checkout")
    parser.add_argument("--answers", action="store_true", help="write the solutions and the reference endpoint")
    args = parser.parse_args(argv)
    try:
        files = write_answers(args.dest) if args.answers else write_release(args.dest)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    size = sum((args.dest / name).stat().st_size for name in files)
    what = "answers" if args.answers else "student's kit (a git repository, one commit)"
    print(f"Wrote the {what} to {args.dest.resolve()}: {len(files)} files, {size / 1024:.0f} KiB.")
    if not args.answers:
        print("Push it to GitHub as a template repository, or zip it (git -C DEST archive -o kit.zip HEAD).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
