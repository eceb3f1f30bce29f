"""Write a token to Kafka from one side of the compose network and find it from the other (run.sh's check)."""

import sys

from clickkit.broker import health, topics
from clickkit.config import load_settings

TOPIC = "clickkit-devcontainer-check"
TIMEOUT_S = 30.0


def main(action: str, token: str) -> int:
    """Produce the token (after a round trip of the kit's own), or find it on the topic; exit 1 when it is not there."""
    where = load_settings().bootstrap_servers
    if action == "produce":
        health.roundtrip(where, TIMEOUT_S)
        topics.ensure_topic(where, TOPIC, timeout_s=TIMEOUT_S)
        producer = topics.producer(where, TIMEOUT_S)
        try:
            sent = producer.send(TOPIC, token.encode()).get(timeout=TIMEOUT_S)
        finally:
            producer.close(timeout=5)
        print(f"Kafka at {where}: a round trip works; the token is at offset {sent.offset} of {TOPIC}")
        return 0
    found = token.encode() in topics.read_topic(where, TOPIC, TIMEOUT_S)
    print(f"Kafka at {where}: the token {'is' if found else 'is NOT'} on {TOPIC}")
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
