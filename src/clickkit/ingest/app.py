"""The reference ingest endpoint: the lesson's POST /clicks, hardened for production and the kit's tools.

Notebook 01 has students write the simple version; this module adds what a beginner should not have to
write: one producer shared safely by many threads, a stuck producer replaced, a batch endpoint, and a
deadline per request so that a 503 comes within the contract's bound whatever Kafka does.
"""

import json
import threading
import time

from flask import Flask, jsonify, request
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.serializer import JsonSerializer
from werkzeug.exceptions import HTTPException

from clickkit import contract
from clickkit.config import load_settings

MAX_BODY_BYTES = contract.MAX_BODY_BYTES
MAX_DEPTH = 16  # clicks are flat objects; deep nesting only costs CPU
REPLY_WITHIN_S = contract.REFERENCE_DEADLINE_S  # every answer, 503 included; below the contract's bound
MAX_BLOCK_S = 3.0  # send() waits at most this long for metadata when no broker answers
UNAVAILABLE = "Kafka did not confirm the event in time, so it may not have been stored. Retry later."


class BadRequest(Exception):
    """A request we refuse, with the HTTP status and the message the client will read."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message, self.status = message, status


def make_producer(bootstrap_servers, bootstrap_timeout_s=3.0, **overrides):
    """Create a producer that reports success only once Kafka has the event, and gives up in bounded time."""
    settings = dict(
        bootstrap_servers=bootstrap_servers,
        acks="all",  # kafka-python 3's default, spelled out: the 200 depends on it
        # No waiting for company: a lone click goes at once, and under load the clicks that arrive while a
        # request is in flight share the next batch anyway. linger_ms=1 cost a lone click 1.3 ms (see
        # docs/performance.md).
        linger_ms=0,
        request_timeout_ms=3000,
        delivery_timeout_ms=5000,  # an event's whole life in the producer, retries included
        max_block_ms=int(MAX_BLOCK_S * 1000),
        bootstrap_timeout_ms=int(bootstrap_timeout_s * 1000),
        value_serializer=JsonSerializer(),
    )
    settings.update(overrides)
    return KafkaProducer(**settings)


def depth(value):
    """Return how deeply lists and objects are nested in a JSON value."""
    level, todo = 0, [(value, 1)]
    while todo:
        item, here = todo.pop()
        if isinstance(item, (dict, list)):
            level = max(level, here)
            todo.extend((child, here + 1) for child in (item.values() if isinstance(item, dict) else item))
    return level


def refuse_constant(name):
    """Refuse NaN and Infinity, which Python's json accepts and other JSON readers do not."""
    raise ValueError(f"{name} is not valid JSON")


def read_json_body():
    """Return the request's JSON body, or raise BadRequest saying what is wrong with it."""
    if request.mimetype != "application/json":
        raise BadRequest("Send the event with the header 'Content-Type: application/json'.", 415)
    raw = request.get_data(cache=False)  # raises 413 above MAX_CONTENT_LENGTH
    if not raw.strip():
        raise BadRequest("The body is empty: send one click event as a JSON object.")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=refuse_constant)
    except UnicodeDecodeError:
        raise BadRequest("The body is not valid UTF-8 text.") from None
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"The body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from None
    except RecursionError:
        raise BadRequest(f"The JSON is nested too deeply (more than {MAX_DEPTH} levels).") from None
    except ValueError as error:  # NaN, Infinity, or an integer of more than 4300 digits
        raise BadRequest(f"The body is not strict JSON: {error}.") from None
    if depth(data) > MAX_DEPTH:
        raise BadRequest(f"The JSON is nested too deeply (more than {MAX_DEPTH} levels).")
    try:  # 1e999 reads as infinity, and a lone surrogate cannot be UTF-8: consumers could not read either
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError:
        raise BadRequest(
            "The JSON has a number too large for a float (such as 1e999) or a lone surrogate "
            "such as \\ud800: send finite numbers and valid Unicode text."
        ) from None
    return data


def check_click(data):
    """Return the event if it is a JSON object, or raise BadRequest."""
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise BadRequest(f"A click event must be a JSON object {{...}}, not {kind}.")
    return data


class ProducerSlot:
    """The app's one producer: created on first use, replaced after Kafka failed it, within deadlines."""

    def __init__(self, bootstrap_servers, producer=None, settings=None):
        self.bootstrap_servers, self.producer, self.settings = bootstrap_servers, producer, settings or {}
        self.lock = threading.Lock()

    def get(self, deadline):
        """Return the producer, creating it if needed, or raise KafkaTimeoutError at the deadline."""
        # Wait for the lock only as long as the request may: while Kafka is down, requests queue here.
        if not self.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise KafkaTimeoutError("another request is still connecting to Kafka")
        try:
            if self.producer is None:
                left = deadline - time.monotonic() - MAX_BLOCK_S  # leave time for send() afterwards
                if left <= 0.1:
                    raise KafkaTimeoutError("no time left to connect to Kafka")
                self.producer = make_producer(
                    self.bootstrap_servers, bootstrap_timeout_s=min(3.0, left), **self.settings
                )
            return self.producer
        finally:
            self.lock.release()

    def forget(self):
        """Drop the producer after Kafka failed a request: kafka-python 3.0 can stay stuck after a crash."""
        with self.lock:
            failed, self.producer = self.producer, None
        if failed is not None:  # closing waits for the buffer, so not on the request's thread
            threading.Thread(target=close_quietly, args=(failed,), daemon=True).start()

    def close(self):
        """Flush and close the producer, so nothing waiting in its buffer is lost."""
        with self.lock:
            producer, self.producer = self.producer, None
        if producer is not None:
            producer.flush(timeout=10)
            producer.close(timeout=10)


def close_quietly(producer):
    """Close a producer Kafka failed; whatever it still holds was answered with a 503."""
    try:
        producer.close(timeout=5)
    except KafkaError:
        pass  # close() gives up when its buffer cannot be flushed; nothing more can be done


def create_app(config=None):
    """Build the reference ingest app; `config` overrides the settings (tests pass a dict)."""
    settings = load_settings()
    app = Flask(__name__)
    app.config.update(
        KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        CLICKS_TOPIC=settings.topic,
        REPLY_WITHIN_S=REPLY_WITHIN_S,
        RETRY_AFTER_S=contract.RETRY_AFTER_S,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        KAFKA_PRODUCER=None,  # tests may hand in a producer of their own
        PRODUCER_SETTINGS={},
    )  # overrides of make_producer's settings, e.g. linger_ms
    app.config.update(config or {})
    slot = ProducerSlot(
        app.config["KAFKA_BOOTSTRAP_SERVERS"], app.config["KAFKA_PRODUCER"], app.config["PRODUCER_SETTINGS"]
    )
    app.extensions["clickkit_producer"] = slot

    def unavailable(body):
        slot.forget()
        return jsonify(body), 503, {"Retry-After": str(app.config["RETRY_AFTER_S"])}

    @app.post(contract.PATH)
    def ingest_click():
        deadline = time.monotonic() + app.config["REPLY_WITHIN_S"]
        try:
            event = check_click(read_json_body())
            future = slot.get(deadline).send(app.config["CLICKS_TOPIC"], event)
            metadata = future.get(timeout=max(0.1, deadline - time.monotonic()))
        except BadRequest as error:
            return jsonify(error=error.message), error.status
        except KafkaError:
            return unavailable({"error": UNAVAILABLE})
        return jsonify(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)

    @app.post(f"{contract.PATH}/batch")
    def ingest_batch():
        """Take a JSON array of clicks; send the valid ones together and report on each."""
        deadline = time.monotonic() + app.config["REPLY_WITHIN_S"]
        try:
            events = read_json_body()
            if not isinstance(events, list):
                raise BadRequest("A batch must be a JSON array of click objects.")
        except BadRequest as error:
            return jsonify(error=error.message), error.status
        failed = {"status": 503, "error": UNAVAILABLE}
        results, futures, kafka_failed = [], [], False
        for event in events:
            future = None
            try:
                check_click(event)
                if not kafka_failed:  # once Kafka has failed, do not wait on it again for each event
                    future = slot.get(deadline).send(app.config["CLICKS_TOPIC"], event)
                results.append({"status": 200} if future else dict(failed))
            except BadRequest as error:
                results.append({"status": 400, "error": error.message})
            except KafkaError:
                kafka_failed = True
                results.append(dict(failed))
            futures.append(future)
        for result, future in zip(results, futures):
            if future is not None:
                try:
                    result["offset"] = future.get(timeout=max(0.1, deadline - time.monotonic())).offset
                except KafkaError:
                    result.update(failed)
                    kafka_failed = True
        accepted = sum(result["status"] == 200 for result in results)
        body = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
        if kafka_failed:
            return unavailable(body)
        return jsonify(body), 200 if accepted == len(results) else 207 if accepted else 400

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.errorhandler(HTTPException)
    def http_error_as_json(error):
        """Answer 404, 405, 413... with JSON instead of Werkzeug's HTML page."""
        return jsonify(error=f"{error.name}: {error.description}"), error.code

    return app


def close_producer(app):
    """Flush and close the app's producer, so nothing waiting in its buffer is lost."""
    app.extensions["clickkit_producer"].close()
