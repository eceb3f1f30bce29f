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
    graph = {name: {dep for dep in deps if not name.startswith(dep + ".") and dep != name.rsplit(".", 1)[0]}
             for name, deps in graph.items()}  # a package's __init__ is not a dependency of its own modules
    cycles, state = [], {}

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [name, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


def test_modules_live_in_subpackages_by_job():
    top_level = sorted(path.stem for path in SRC.glob("*.py"))
    assert set(top_level) <= {"__init__", "config", "doctor", "errors", "ports", "schema"}, top_level
    for package in ("broker", "course", "ingest", "traffic", "demo", "bench", "grading", "reliability"):
        assert (SRC / package / "__init__.py").exists(), package


def test_no_code_is_written_twice_in_the_package():
    import subprocess
    import sys

    found = subprocess.run([sys.executable, "-m", "pylint", "--disable=all", "--enable=duplicate-code",
                            "--min-similarity-lines=6", "--score=n", str(SRC)], capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stdout[-3000:]


def test_tests_mirror_the_package():
    tests = Path(__file__).parent
    for package in ("broker", "course", "ingest", "traffic", "demo", "bench", "grading", "reliability"):
        assert list((tests / package).glob("test_*.py")), f"tests/{package}/ has no tests"
