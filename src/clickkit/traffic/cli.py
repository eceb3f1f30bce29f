"""The fake website's command line: `python -m clickkit.traffic --count 1000 --rate 50`."""

import argparse
import sys
import time

from clickkit.config import load_settings
from clickkit.errors import KitError
from clickkit.traffic.generate import DEFAULT_START_MS, Dirt, generate
from clickkit.traffic.send import paced, send

DEFAULT_COUNT = 1000


def rate(text: str) -> float:
    """Parse a share of events between 0 and 1."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1 (0.05 means 5 % of events)")
    return value


def parser() -> argparse.ArgumentParser:
    settings = load_settings()
    cli = argparse.ArgumentParser(
        prog="python -m clickkit.traffic",
        description=(
            "Send realistic click events from fake Wikipedia readers. Exits 0 only when every event was accepted."
        ),
    )
    cli.add_argument("--count", type=int, help=f"how many events (default {DEFAULT_COUNT} unless --duration is given)")
    cli.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    cli.add_argument("--rate", type=float, default=0.0, metavar="EVENTS_PER_S", help="0 = as fast as possible")
    cli.add_argument("--concurrency", type=int, default=4, help="parallel HTTP requests (default 4)")
    cli.add_argument("--seed", type=int, default=0, help="the same seed gives the same events (default 0)")
    cli.add_argument("--url", default=settings.ingest_url, help=f"the endpoint (INGEST_URL, now {settings.ingest_url})")
    cli.add_argument(
        "--mode",
        choices=["http", "kafka", "stdout"],
        default="http",
        help="http: POST to --url; kafka: produce to the topic directly; stdout: print JSON lines",
    )
    cli.add_argument("--topic", default=settings.topic, help=f"topic for --mode kafka (default {settings.topic})")
    cli.add_argument(
        "--start-ms",
        type=int,
        help="ts_ingest of the first event, ms since the epoch (default: now, "
        f"or {DEFAULT_START_MS} with --mode stdout so that output is reproducible)",
    )
    cli.add_argument("--no-progress", action="store_true", help="no progress bar")
    dirt = cli.add_argument_group("dirty data and anomalies (each off by default; the value is a share of events)")
    dirt.add_argument("--null-rate", type=rate, default=0.0, help="one field set to null")
    dirt.add_argument("--lowercase-rate", type=rate, default=0.0, help="country code in lower case")
    dirt.add_argument("--missing-rate", type=rate, default=0.0, help="some fields left out")
    dirt.add_argument("--burst-rate", type=rate, default=0.0, help="chance per event of a DDoS-like burst")
    dirt.add_argument("--burst-size", type=int, default=50, help="events in one burst (default 50)")
    dirt.add_argument("--probe-rate", type=rate, default=0.0, help="/admin-like URLs instead of articles")
    return cli


def main(argv=None) -> int:
    """Generate, send, print the summary; exit 0 only when every event was accepted."""
    args = parser().parse_args(argv)
    if args.concurrency < 1 or args.rate < 0 or (args.count is not None and args.count < 1):
        print("error: --count and --concurrency must be at least 1, and --rate 0 or more.", file=sys.stderr)
        return 2
    count = args.count if args.count is not None or args.duration else DEFAULT_COUNT
    start_ms = args.start_ms or (DEFAULT_START_MS if args.mode == "stdout" else int(time.time() * 1000))
    dirt = Dirt(
        nulls=args.null_rate,
        lowercase=args.lowercase_rate,
        missing=args.missing_rate,
        burst=args.burst_rate,
        probes=args.probe_rate,
        burst_size=args.burst_size,
    )
    events = paced(generate(args.seed, start_ms, dirt), count, args.duration, args.rate)
    target = {
        "http": args.url,
        "kafka": f"topic {args.topic} at {load_settings().bootstrap_servers}",
        "stdout": "stdout",
    }[args.mode]
    how_many = f"{count} click events" if count else f"click events for {args.duration:g} s"
    print(f"Sending {how_many} to {target}...", file=sys.stderr)
    try:
        summary = send(
            events,
            args.mode,
            url=args.url,
            bootstrap_servers=load_settings().bootstrap_servers,
            topic=args.topic,
            concurrency=args.concurrency,
            total=count,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        print("Interrupted: events in flight may or may not have arrived.", file=sys.stderr)
        return 130
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary, file=sys.stderr)
    if not summary.ok:
        print("Not every event was accepted: see the messages above.", file=sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
