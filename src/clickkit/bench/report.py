"""Turn benchmark results into Markdown tables and a plot."""

from pathlib import Path

from clickkit.tables import markdown_table

LABELS = {
    "ceiling": "(1) ceiling: raw producer",
    "naive": "(2) naive: Flask dev server",
    "recommended": "(3) recommended: granian",
    "batch": "(4) batch endpoint on (3)",
}
RUN_COLUMNS = [
    "concurrency",
    "requests_per_s",
    "events_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "cpu_server_pct",
    "cpu_ms_per_request",
    "cpu_load_pct",
    "cpu_machine_pct",
    "errors",
]


def summary_tables(results: dict) -> str:
    """Return the summary, the targets and the per-run tables as one Markdown text."""
    header = [
        "measurement",
        "best at concurrency",
        "requests/s",
        "events/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "server CPU %",
        "CPU ms per request",
        "acknowledged",
        "found on topic",
        "duplicates",
    ]
    rows = [
        [
            LABELS[name],
            entry["concurrency"],
            entry["requests_per_s"],
            entry["events_per_s"],
            entry["p50_ms"],
            entry["p95_ms"],
            entry["p99_ms"],
            entry["cpu_server_pct"],
            entry["cpu_ms_per_request"],
            entry["acknowledged"],
            entry["found_on_topic"],
            entry["duplicates"],
        ]
        for name, entry in ((name, results[name]) for name in LABELS)
    ]
    targets = [
        [t["compare"], f"{t['measured']:.2f}{t['unit']}", t["target"], "yes" if t["met"] else "NO"]
        for t in results["targets"]
    ]
    runs = [
        [LABELS[name]] + [run[column] for column in RUN_COLUMNS] for name in LABELS for run in results[name]["runs"]
    ]
    half = results["recommended"]["half_load"]
    return "\n\n".join(
        [
            markdown_table(header, rows),
            f"p99 of (3) at half its best throughput ({half['events_per_s']:,.0f} events/s paced, "
            f"concurrency {half['concurrency']}): {half['p99_ms']:.1f} ms",
            markdown_table(["compare", "measured", "target", "met"], targets),
            "Every run (CPU %: 100 = one core; CPU ms per request is the server's, or the raw producer's per event; "
            "machine % is all cores, other users included):",
            markdown_table(["measurement"] + RUN_COLUMNS, runs),
        ]
    )


def plot(results: dict, path: Path) -> Path:
    """Draw throughput against concurrency and the latency percentiles; save as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    for index, name in enumerate(LABELS):
        runs, color = results[name]["runs"], f"C{index}"  # one colour per measurement in both panels
        levels = [run["concurrency"] for run in runs]
        throughput.plot(levels, [run["events_per_s"] for run in runs], marker="o", color=color, label=LABELS[name])
        for percentile, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
            latency.plot(
                levels,
                [run[percentile] for run in runs],
                style,
                marker=".",
                color=color,
                label=f"{name} {percentile[:3]}",
            )
    throughput.set(
        xscale="log",
        xlabel="concurrent clients",
        ylabel="events/s acknowledged by Kafka",
        title="Throughput against concurrency",
    )
    latency.set(
        xscale="log",
        yscale="log",
        xlabel="concurrent clients",
        ylabel="latency per request (ms)",
        title="Latency percentiles",
    )
    throughput.legend(fontsize=8)
    latency.legend(fontsize=7, ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
