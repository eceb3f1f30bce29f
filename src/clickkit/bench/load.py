"""Closed-loop load for the benchmark, run as its own process so it does not share the server's interpreter.

Each of --concurrency clients sends a request, waits for the answer, and sends the next, until --duration
seconds or --max-requests requests. Every event carries a unique `bench_id`; the ids Kafka acknowledged
are written out with the latencies, so the benchmark can check the topic holds each of them exactly once.
With --kafka it drives a raw kafka-python producer instead of an HTTP server (the benchmark's ceiling).
"""

import argparse
import http.client
import itertools
import json
import sys
import threading
import time
from urllib.parse import urlsplit

from clickkit import schema

REQUEST_TIMEOUT_S = 10.0  # a hung server fails a request instead of stalling the benchmark
SAMPLE_CLICK = schema.sample(visitor_page_timer=12345, visitor_page_height=2048)


def click(bench_id: str) -> dict:
    """Return a click event of realistic size, tagged with the benchmark's id."""
    return {**SAMPLE_CLICK, "bench_id": bench_id}


class LoadRecord:
    """Latencies, status counts and acknowledged ids, collected from many threads."""

    def __init__(self, measure_from: float):
        self.measure_from = measure_from  # requests that start earlier are warm-up: accounted, not timed
        self.lock = threading.Lock()
        self.latencies_ms, self.acknowledged, self.statuses = [], [], {}
        self.timed_requests = self.timed_events = 0

    def record(self, started: float, status: str, acknowledged_ids: list) -> None:
        """Record one finished request."""
        latency_ms = (time.perf_counter() - started) * 1000
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.acknowledged.extend(acknowledged_ids)
            if started >= self.measure_from:
                self.latencies_ms.append(latency_ms)
                self.timed_requests += 1
                self.timed_events += len(acknowledged_ids)


class Schedule:
    """Hand out request slots: as fast as the clients go, or paced to a total rate."""

    def __init__(self, start: float, deadline: float, max_requests: int, rate: float):
        self.start, self.deadline, self.max_requests, self.rate = start, deadline, max_requests, rate
        self.counter = itertools.count()

    def next_slot(self):
        """Return the time the next request is due (it waits until then), or None when the run is over."""
        index = next(self.counter)
        if index >= self.max_requests:
            return None
        now = time.perf_counter()
        due = self.start + index / self.rate if self.rate else now
        if due >= self.deadline or now >= self.deadline:
            return None
        if due > now:
            time.sleep(due - now)
        return due  # timing from the due time counts the wait a late client causes (no coordinated omission)


def http_client(url: str, batch_size: int, schedule: Schedule, log: LoadRecord, client_id: int) -> None:
    """Send requests on one keep-alive connection until the schedule says stop."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
    headers = {"Content-Type": "application/json"}
    for sequence in itertools.count():
        started = schedule.next_slot()
        if started is None:
            break
        ids = [f"{client_id}-{sequence}-{item}" for item in range(batch_size)]
        body = [click(i) for i in ids] if batch_size > 1 else click(ids[0])
        try:
            connection.request("POST", parts.path, json.dumps(body).encode(), headers)
            response = connection.getresponse()
            status, answer = str(response.status), response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()  # reconnects on the next request
            log.record(started, type(error).__name__, [])
            continue
        if status != "200" and batch_size == 1:
            log.record(started, status, [])
        elif batch_size == 1:
            log.record(started, status, ids)
        else:
            results = json.loads(answer).get("results", []) if answer.startswith(b"{") else []
            accepted = [i for i, result in zip(ids, results) if result.get("status") == 200]
            log.record(started, "200" if status in ("200", "207") else status, accepted)
    connection.close()


def run_http(args, log: LoadRecord, schedule: Schedule, _=None) -> None:
    """Run --concurrency HTTP clients on threads and wait for them."""
    threads = [
        threading.Thread(
            target=http_client, args=(args.url, args.batch_size, schedule, log, f"{args.run_id}-{n}"), daemon=True
        )
        for n in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.duration + args.warmup + 2 * REQUEST_TIMEOUT_S)


def ceiling_producer(bootstrap_servers: str, topic: str):
    """Return a producer made by the reference endpoint's make_producer, already connected to the topic's leader."""
    from clickkit.ingest.app import make_producer

    producer = make_producer(bootstrap_servers)
    producer.partitions_for(topic)  # fetch metadata now, so the clock does not start with a cold client
    return producer


def run_kafka(args, log: LoadRecord, schedule: Schedule, producer) -> None:
    """Keep --concurrency sends in flight on one producer with the endpoint's settings."""
    in_flight = threading.BoundedSemaphore(args.concurrency)

    def finished(started, bench_id, error=None):
        log.record(started, type(error).__name__ if error else "200", [] if error else [bench_id])
        in_flight.release()

    for sequence in itertools.count():
        if not in_flight.acquire(timeout=REQUEST_TIMEOUT_S):
            break
        started = schedule.next_slot()
        if started is None:
            in_flight.release()
            break
        bench_id = f"{args.run_id}-{sequence}"
        future = producer.send(args.topic, click(bench_id))
        future.add_callback(lambda _, s=started, i=bench_id: finished(s, i))
        future.add_errback(lambda error, s=started, i=bench_id: finished(s, i, error))
    producer.flush(timeout=REQUEST_TIMEOUT_S)
    producer.close(timeout=REQUEST_TIMEOUT_S)


def main(argv=None) -> int:
    """Run one load and write what it measured as JSON to --out."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.bench.load", description=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="an http://127.0.0.1:PORT/... endpoint (loopback only)")
    target.add_argument("--kafka", metavar="BOOTSTRAP", help="drive a raw producer instead (needs --topic)")
    parser.add_argument("--topic")
    parser.add_argument("--concurrency", type=int, default=8, help="clients (HTTP) or sends in flight (Kafka)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds sent first and not timed")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in total; 0 = as fast as possible")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1, help="clicks per request; >1 posts JSON arrays")
    parser.add_argument("--run-id", default="run")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load generator only targets loopback (127.0.0.1 or localhost)")
    if args.kafka and not args.topic:
        parser.error("--kafka needs --topic")

    producer = ceiling_producer(args.kafka, args.topic) if args.kafka else None
    start = time.perf_counter()
    measure_from = start + args.warmup
    log = LoadRecord(measure_from)
    schedule = Schedule(start, measure_from + args.duration, args.max_requests, args.rate)
    cpu_at = {"start": time.process_time()}
    # The CPU figure covers the timed part only, as the latencies do: the warm-up's CPU is left out.
    timer = threading.Timer(args.warmup, lambda: cpu_at.update(start=time.process_time()))
    timer.start()
    (run_kafka if args.kafka else run_http)(args, log, schedule, producer)
    timer.cancel()
    elapsed = time.perf_counter() - measure_from
    cpu_s = time.process_time() - cpu_at["start"]
    with log.lock:
        result = {
            "elapsed_s": elapsed,
            "cpu_s": cpu_s,
            "statuses": log.statuses,
            "timed_requests": log.timed_requests,
            "timed_events": log.timed_events,
            "latencies_ms": log.latencies_ms,
            "acknowledged_ids": log.acknowledged,
        }
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
