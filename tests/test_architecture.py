"""The package's shape: subpackages by job, and no module that imports, however indirectly, itself."""

import ast
from pathlib import Path

import clickkit

SRC = Path(clickkit.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set) -> set:
    """Return the kit's modules that this file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def test_no_module_imports_itself_through_others():
    files = {module_name(path): path for path in SRC.rglob("*.py")}
    graph = {name: imports_of(path, set(files)) - {name} for name, path in files.items()}
    graph = {
        name: {dep for dep in deps if not name.startswith(dep + ".") and dep != name.rsplit(".", 1)[0]}
        for name, deps in graph.items()
    }  # a package's __init__ is not a dependency of its own modules
    cycles, state = [], {}

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep) :] + [dep] if dep in path else [name, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


def test_modules_live_in_subpackages_by_job():
    top_level = sorted(path.stem for path in SRC.glob("*.py"))
    assert set(top_level) <= {"__init__", "config", "contract", "doctor", "errors", "ports", "schema", "tables"}, (
        top_level
    )
    for package in ("broker", "course", "ingest", "traffic", "demo", "bench", "grading", "reliability"):
        assert (SRC / package / "__init__.py").exists(), package


def test_no_code_is_written_twice_in_the_package():
    import subprocess
    import sys

    found = subprocess.run(
        [
            sys.executable,
            "-m",
            "pylint",
            "--disable=all",
            "--enable=duplicate-code",
            "--min-similarity-lines=6",
            "--score=n",
            str(SRC),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stdout[-3000:]


def test_tests_mirror_the_package():
    tests = Path(__file__).parent
    for package in ("broker", "course", "ingest", "traffic", "demo", "bench", "grading", "reliability"):
        assert list((tests / package).glob("test_*.py")), f"tests/{package}/ has no tests"


def calls_and_strings(path: Path):
    """Yield the name of every call and every string constant in a file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            yield "call", func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield "string", node.value


def test_each_piece_of_plumbing_has_one_place():
    clients = {"KafkaAdminClient", "KafkaConsumer", "KafkaProducer"}
    # The endpoints build their own producer: that producer is what the course teaches.
    may_build_clients = {"clickkit.broker.topics", "clickkit.ingest.app", "clickkit.ingest.naive"}
    misplaced = []
    for path in SRC.rglob("*.py"):
        name = module_name(path)
        for kind, value in calls_and_strings(path):
            if kind == "call" and value in clients and name not in may_build_clients:
                misplaced.append(f"{name} builds a {value}: use clickkit.broker.topics")
            if kind == "string" and "|---" in value and name != "clickkit.tables":
                misplaced.append(f"{name} writes a Markdown table by hand: use clickkit.tables.markdown_table")
            # The outage scenario places its broker itself, to start it only once clicks already flow.
            if (
                kind == "call"
                and value == "LocalKafka"
                and name != "clickkit.broker.local"
                and name != "clickkit.reliability.scenarios"
            ):
                misplaced.append(
                    f"{name} places a broker itself: use clickkit.broker.local (for_settings, start_on_free_ports)"
                )
    assert not misplaced, misplaced


def test_make_test_fast_runs_with_the_projects_pytest_options():
    import os
    import re
    import shlex
    import subprocess
    import sys

    from clickkit.config import REPO_ROOT

    recipe = re.search(
        r"^test-fast:.*\n\t\$\(BIN\)/python -m pytest (.*)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE
    )
    assert recipe, "the Makefile has no test-fast target that runs pytest"
    args = shlex.split(recipe.group(1).replace("$(PYTEST_ARGS)", ""))
    env = {key: value for key, value in os.environ.items() if key != "KAFKA_BOOTSTRAP_SERVERS"}
    found = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-q"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stdout[-2000:] + found.stderr[-2000:]
    collected = [line for line in found.stdout.splitlines() if "::" in line]
    assert len(collected) > 50 and not any(line.split("::")[0].endswith(".ipynb") for line in collected)
    assert "deselected" in found.stdout.splitlines()[-1], "the tests that need Kafka must be left out"


def test_errors_live_in_one_module():
    # The reference endpoint's BadRequest is part of what the course shows; RubricFailure is how pytest shows a verdict.
    allowed = {("clickkit.ingest.app", "BadRequest"), ("clickkit.grading.plugin", "RubricFailure")}
    elsewhere = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases]
                if (
                    any(base.endswith(("Error", "Exception", "Failure")) or base == "UnknownTopic" for base in bases)
                    and (module_name(path), node.name) not in allowed
                ):
                    elsewhere.append(f"{module_name(path)}.{node.name}")
    assert not elsewhere, f"define errors in clickkit/errors.py: {elsewhere}"


def test_tools_do_not_import_the_launcher_or_take_errors_from_another_module():
    wrong = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clickkit"):
                names = {alias.name for alias in node.names}
                if node.module == "clickkit.course.lab":
                    wrong.append(f"{module_name(path)} imports the JupyterLab launcher")
                if node.module != "clickkit.errors" and names & {
                    "KitError",
                    "BrokerNotReady",
                    "GraderError",
                    "LiveError",
                    "UnknownTopic",
                    "EndpointError",
                }:
                    wrong.append(f"{module_name(path)} takes an error from {node.module}")
    assert not wrong, wrong
