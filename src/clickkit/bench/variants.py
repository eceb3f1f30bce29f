"""Measure the naive server and several deployments of the reference endpoint in one run, on equal terms.

This is where the recommended deployment was chosen from: each variant is served on a fresh topic, loaded
at the same concurrency levels, paced at half its best, and its topic audited like the benchmark's own
measurements. Prints a Markdown table; the folder printed last holds variants.json and variants.md.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from clickkit.bench.run import accounting_errors, kafka_settings, measure_server
from clickkit.errors import KitError
from clickkit.tables import markdown_table

SERVE = ["clickkit.ingest.serve"]
VARIANTS = {  # name (also in the topic's name): (what it is, the server's command line)
    "naive": ("Flask development server (the naive one)", ["clickkit.ingest.naive"]),
    "gunicorn-16-l1": (
        "gunicorn gthread, 2 x 16 threads, linger 1 ms (the earlier recommendation)",
        SERVE + ["--server", "gunicorn", "--threads", 16, "--linger-ms", 1],
    ),
    "gunicorn-16": ("gunicorn gthread, 2 x 16 threads", SERVE + ["--server", "gunicorn", "--threads", 16]),
    "gunicorn-32": ("gunicorn gthread, 2 x 32 threads", SERVE + ["--server", "gunicorn", "--threads", 32]),
    "granian-32-l1": ("granian, 2 x 32 threads, linger 1 ms", SERVE + ["--linger-ms", 1]),
    "granian-16": ("granian, 2 x 16 threads", SERVE + ["--threads", 16]),
    "granian-32": ("granian, 2 x 32 threads (recommended)", SERVE),
    "granian-64": ("granian, 2 x 64 threads", SERVE + ["--threads", 64]),
    "granian-1x64": ("granian, 1 x 64 threads", SERVE + ["--workers", 1, "--threads", 64]),
}


def parse_args(argv):
    """Read the command line; all variants at the defaults take about seven minutes."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.bench.variants", description=__doc__)
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants to measure")
    parser.add_argument("--concurrency", default="1,4,16,64", help="comma-separated client counts to measure")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of untimed load before each run")
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap on requests per run")
    parser.add_argument("--out", type=Path, help="results folder (default: bench-results/variants-<date-time>)")
    args = parser.parse_args(argv)
    args.levels = sorted({int(level) for level in args.concurrency.split(",")})
    args.names = [name for name in args.only.split(",") if name]
    unknown = set(args.names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    args.out = args.out or Path("bench-results") / time.strftime("variants-%Y%m%d-%H%M%S")
    return args


def table(results: dict, levels: list) -> str:
    """Return one row per variant: best events/s, its ratio to the naive server, each level, half load, CPU."""
    naive = results.get("naive", {}).get("events_per_s")
    header = [
        "variant",
        "best events/s",
        "÷ naive",
        *(f"req/s at {level}" for level in levels),
        "p99 ms at half load",
        "CPU ms per request at best",
        "acknowledged",
        "found on topic",
        "duplicates",
    ]
    rows = []
    for name, entry in results.items():
        per_level = {run["concurrency"]: run["requests_per_s"] for run in entry["runs"]}
        ratio = f"{entry['events_per_s'] / naive:.2f}x" if naive else ""
        rows.append(
            [
                VARIANTS[name][0],
                entry["events_per_s"],
                ratio,
                *(per_level.get(level, "") for level in levels),
                entry["p99_ms_at_half_load"],
                entry["cpu_ms_per_request"],
                entry["acknowledged"],
                entry["found_on_topic"],
                entry["duplicates"],
            ]
        )
    return markdown_table(header, rows)


def main(argv=None) -> int:
    """Measure each chosen variant in turn, print the table, and print the results folder last."""
    args = parse_args(argv)
    try:
        return measure_variants(args)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def measure_variants(args) -> int:
    """Measure each chosen variant, write the results, print the table and the folder."""
    settings = kafka_settings()
    out = args.out.resolve()
    work = out / "runs"
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.names:
        results[name] = measure_server(name, VARIANTS[name][1], args, settings.bootstrap_servers, work, half_load=True)
    text = table(results, args.levels)
    (out / "variants.json").write_text(json.dumps(results, indent=2))
    (out / "variants.md").write_text(f"# Deployment variants\n\n{text}\n")
    print(text)
    problems = accounting_errors(results)
    for problem in problems:
        print(f"error: the topic does not match what was acknowledged: {problem}", file=sys.stderr)
    print(out)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
