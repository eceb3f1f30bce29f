"""The ingest endpoint as a first-time student writes it: Flask's development server, one blocking send per request.

The benchmark measures it against the recommended deployment. It keeps the same guarantee (acks="all",
and a 200 only after Kafka's acknowledgement), so the comparison is about speed alone.
Run it with: python -m clickkit.ingest.naive --port 5000
"""

import argparse

from flask import Flask, jsonify, request
from kafka import KafkaProducer
from kafka.serializer import JsonSerializer

from clickkit.config import load_settings

settings = load_settings()
app = Flask(__name__)
producer = KafkaProducer(
    bootstrap_servers=settings.bootstrap_servers,
    acks="all",
    max_block_ms=3000,
    request_timeout_ms=3000,
    value_serializer=JsonSerializer(),
)


@app.post("/clicks")
def clicks():
    """Store one click in Kafka and answer once Kafka has it."""
    event = request.get_json()
    metadata = producer.send(settings.topic, event).get(timeout=10)
    return jsonify(status="stored", offset=metadata.offset)


def main(argv=None) -> None:
    """Serve on loopback with Flask's built-in development server."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.ingest.naive", description=__doc__)
    parser.add_argument("--port", type=int, default=settings.ingest_port)
    args = parser.parse_args(argv)
    app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
