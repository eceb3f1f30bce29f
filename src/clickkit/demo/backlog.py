"""The demo's backlog: a processing consumer group the teacher stops and restarts, and its lag for the live page."""

import threading

from kafka.errors import KafkaError

from clickkit.broker.groups import LagWatch
from clickkit.broker.topics import group_consumer

LAG_EVERY_S = 0.5  # how often the live page's lag is measured
GROUP = "clickkit-demo-processing"


class Processing:
    """A consumer group that reads the topic and commits, on a thread of its own, until stopped.

    Stopping it closes its consumer, as a crashed or redeployed pipeline would: the group keeps its committed
    offset on the broker, the clicks keep arriving, and the lag grows. Starting it again carries on from there.
    """

    def __init__(self, bootstrap_servers: str, topic: str, group: str = GROUP):
        self.bootstrap_servers, self.topic, self.group = bootstrap_servers, topic, group
        self.processed = 0
        self.error = ""
        self._stopping = threading.Event()
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "Processing":
        """Join the group and process from its committed offset; does nothing if it runs already."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="demo-processing", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            consumer = group_consumer(self.bootstrap_servers, self.topic, self.group, timeout_s=10)
        except KafkaError as error:
            self.error = f"the processing consumer could not start: {error}"
            return
        try:
            while not self._stopping.is_set():
                try:
                    batches = consumer.poll(timeout_ms=200, max_records=500)
                    self.processed += sum(len(records) for records in batches.values())
                    if batches:
                        consumer.commit()  # after the records are "processed": at least once
                    self.error = ""
                except KafkaError as error:  # the broker is gone for a while: say so, and try again
                    self.error = f"the processing consumer: {type(error).__name__}: {error}"
                    self._stopping.wait(1.0)
        finally:
            consumer.close()  # leaves the group; its committed offset stays on the broker

    def stop(self) -> None:
        """Stop processing and leave the group; does nothing if it is stopped already."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=15)
            self._thread = None

    def toggle(self) -> bool:
        """Stop it if it runs, start it if not; return whether it runs now."""
        if self.running:
            self.stop()
        else:
            self.start()
        return self.running


class LagFeed:
    """Measure a group's lag every LAG_EVERY_S seconds, and hand it to the live page's totals."""

    def __init__(self, bootstrap_servers: str, topic: str, group: str, tally, processing: Processing | None = None):
        self.bootstrap_servers, self.topic, self.group = bootstrap_servers, topic, group
        self.tally, self.processing = tally, processing
        self._stopping = threading.Event()
        self._thread = None

    def start(self) -> "LagFeed":
        self._thread = threading.Thread(target=self._run, name="demo-lag", daemon=True)
        self._thread.start()
        return self

    def _state(self) -> str:
        if self.processing is None:
            return ""
        return "running" if self.processing.running else "stopped"

    def _run(self) -> None:
        watch = None
        while not self._stopping.is_set():
            try:
                watch = watch or LagWatch(self.bootstrap_servers, self.topic, self.group)
                problem = self.processing.error if self.processing is not None else ""
                self.tally.report_lag(self.group, watch.lag(), self._state(), problem)
            except Exception as error:  # the broker went away: show it, and measure again later
                self.tally.report_lag(self.group, None, self._state(), f"the lag cannot be read: {error}")
                if watch is not None:
                    watch.close()
                    watch = None
            self._stopping.wait(LAG_EVERY_S)
        if watch is not None:
            watch.close()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
