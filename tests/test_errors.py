"""One error family: every kit error is a KitError, and every command-line tool catches KitError alone."""

import ast
import inspect
import signal
from pathlib import Path

import nbformat
import pytest

import clickkit
from clickkit import errors

SRC = Path(clickkit.__file__).parent
# Tools that raise no kit error of their own: each reports or serves, and lets a crash be a crash.
RAISE_NO_KIT_ERROR = {
    "doctor.py": "every check becomes a ✗ line with its fix",
    "ingest/naive.py": "serves Flask's development server",
    "ingest/serve.py": "hands over to granian or gunicorn",
    "bench/load.py": "a child process of the benchmark, which reports its failure as a LoadError",
    "grading/sandbox.py": "execs bubblewrap",
    "grading/bridge.py": "relays sockets inside the sandbox, then waits for the kernel",
    "grading/watchdog.py": "waits for its grader to end, then removes what it left; no one reads its output",
}


def kit_error_classes() -> list:
    return [value for _, value in inspect.getmembers(errors, inspect.isclass) if value.__module__ == errors.__name__]


def test_every_error_of_the_kit_is_a_kit_error():
    classes = kit_error_classes()
    assert len(classes) >= 8
    assert [cls.__name__ for cls in classes if not issubclass(cls, errors.KitError)] == []


def tools() -> dict:
    """Return {path relative to the package: the module's AST} for every module that runs as a program."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = any(isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body)
        if guarded:
            found[path.relative_to(SRC).as_posix()] = tree
    return found


def handled_names(function: ast.FunctionDef) -> list:
    """Return the names of the exception classes each `except` in the function catches."""
    names = []
    for node in ast.walk(function):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            names.append([ast.unparse(item) for item in caught])
    return names


def test_every_tool_catches_kit_error_alone():
    kit_names = {cls.__name__ for cls in kit_error_classes()}
    found = tools()
    assert set(RAISE_NO_KIT_ERROR) <= set(found), "a tool of RAISE_NO_KIT_ERROR is no longer a tool"
    wrong = []
    for name, tree in found.items():
        mains = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
        assert mains, f"{name} runs as a program but has no main()"
        handlers = handled_names(mains[0])
        kit_handlers = [caught for caught in handlers if kit_names & set(caught)]
        if name in RAISE_NO_KIT_ERROR:
            continue
        if kit_handlers != [["KitError"]]:
            wrong.append(f"{name}: main() catches {kit_handlers}, not `except KitError` once")
    assert not wrong, wrong


def fail_with(error):
    def raising(*args, **kwargs):
        raise error

    return raising


@pytest.mark.parametrize(
    "module, patched, argv",
    [
        ("clickkit.bench.run", "ensure_kafka", []),
        ("clickkit.bench.variants", "kafka_settings", []),
        ("clickkit.broker.cli", "for_settings", ["up", "--cluster"]),
        ("clickkit.course.lab", "ensure_kafka", None),
        ("clickkit.reliability.scenarios", "run_all", ["--no-cluster"]),
        ("clickkit.traffic.cli", "send", ["--count", "1", "--mode", "stdout", "--no-progress"]),
        ("clickkit.demo.run", "ensure_kafka", ["--port", "0"]),
    ],
)
def test_a_tool_prints_a_kit_errors_message_and_exits_non_zero(module, patched, argv, monkeypatch, capsys):
    tool = __import__(module, fromlist=["main"])
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # the demo's Ctrl+C handling is not pytest's
    message = f"Something {module} needs is missing: do this to fix it."
    monkeypatch.setattr(tool, patched, fail_with(errors.BrokerNotReady(message)))
    code = tool.main() if argv is None else tool.main(argv)
    assert code == 1
    assert message in capsys.readouterr().err


def test_the_grader_says_a_grader_error_and_writes_no_grades(monkeypatch, capsys, tmp_path):
    from clickkit.grading import grade

    notebook = tmp_path / "alice.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    monkeypatch.setattr(grade, "grade_class", fail_with(errors.BrokerNotReady("Kafka is gone: start it.")))
    assert grade.main([str(notebook), "--out", str(tmp_path / "out")]) == 1
    assert "Kafka is gone: start it." in capsys.readouterr().err
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_a_nested_solution_region_stops_make_exercises_with_what_to_fix(monkeypatch, capsys, tmp_path):
    from clickkit.course import exercises

    solutions = tmp_path / "solutions"
    solutions.mkdir()
    source = f"{exercises.BEGIN}\n{exercises.BEGIN}\nx = 1\n{exercises.END}\n"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(notebook, solutions / "01-x.ipynb")
    monkeypatch.setattr(exercises, "SOLUTIONS_DIR", solutions)
    monkeypatch.setattr(exercises, "EXERCISES_DIR", tmp_path)
    assert exercises.main([]) == 2
    assert "inside another solution region" in capsys.readouterr().err


def test_no_free_pair_of_ports_is_a_kit_error_that_says_what_to_do(monkeypatch):
    from clickkit import ports

    monkeypatch.setattr(ports, "can_bind", lambda port: False)
    with pytest.raises(errors.KitError, match="stop some servers"):
        ports.free_port_pair()
