"""A smoke run of the benchmark against the real broker: it runs, and its accounting is exact (no timing asserted)."""

import json
import subprocess
import sys

import pytest

from clickkit.bench.load import Schedule
from clickkit.bench.report import LABELS

ENTRIES = ("ceiling", "naive", "recommended", "batch")
FIELDS = ("events_per_s", "p50_ms", "p95_ms", "p99_ms", "acknowledged", "found_on_topic", "duplicates")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, bootstrap_servers):
    """Run `python -m clickkit.bench` once with tiny values; return its output and results."""
    out = tmp_path_factory.mktemp("bench")
    extra = ["--batch-size", "5", "--ceiling-window", "2", "--workers", "1", "--threads", "2"]
    stdout = run_briefly("clickkit.bench.run", out, *extra)
    return stdout, out, json.loads((out / "bench-results.json").read_text())


def run_briefly(module: str, out, *extra) -> str:
    """Run a benchmark module with tiny values, writing into out; return its output once it has succeeded."""
    command = [sys.executable, "-m", module, "--concurrency", "2", "--duration", "0.5", "--warmup", "0.2"]
    command += ["--max-requests", "40", *extra, "--out", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=100)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


@pytest.mark.timeout(110)
def test_bench_names_its_folder_last_and_writes_every_output(smoke_run):
    stdout, out, _ = smoke_run
    assert stdout.strip().splitlines()[-1] == str(out.resolve())
    assert (out / "bench-plot.png").read_bytes().startswith(b"\x89PNG")
    assert f"| {LABELS['recommended']} |" in (out / "bench-results.md").read_text()


def test_every_acknowledged_event_is_on_its_topic_exactly_once(smoke_run):
    _, _, results = smoke_run
    topics = {results[name]["topic"] for name in ENTRIES}
    assert len(topics) == len(ENTRIES), "each measurement writes to its own fresh topic"
    for name in ENTRIES:
        entry = results[name]
        assert set(FIELDS) <= entry.keys(), name
        assert entry["acknowledged"] > 0, f"{name}: nothing was acknowledged"
        assert entry["found_on_topic"] == entry["acknowledged"], name
        assert entry["duplicates"] == 0 and entry["unacknowledged_on_topic"] == 0, name
    # A paced half-second run on a busy machine may complete no request: present, never negative, no timing.
    half_load = results["recommended"]["p99_ms_at_half_load"]
    assert isinstance(half_load, (int, float)) and half_load >= 0
    assert results["batch"]["events_per_s"] == pytest.approx(5 * results["batch"]["requests_per_s"])


def test_schedule_stops_at_the_request_cap():
    schedule = Schedule(start=0.0, deadline=float("inf"), max_requests=3, rate=0)
    slots = [schedule.next_slot() for _ in range(5)]
    assert [slot is not None for slot in slots] == [True, True, True, False, False]


@pytest.mark.timeout(110)
def test_variants_run_the_earlier_gunicorn_deployment_and_audit_its_topic(tmp_path, bootstrap_servers):
    stdout = run_briefly("clickkit.bench.variants", tmp_path, "--only", "naive,gunicorn-16-l1")
    assert stdout.strip().splitlines()[-1] == str(tmp_path.resolve())
    results = json.loads((tmp_path / "variants.json").read_text())
    assert list(results) == ["naive", "gunicorn-16-l1"]
    for entry in results.values():
        assert entry["acknowledged"] > 0 and entry["found_on_topic"] == entry["acknowledged"]
        assert entry["duplicates"] == 0
    assert "| gunicorn gthread, 2 x 16 threads, linger 1 ms" in (tmp_path / "variants.md").read_text()
