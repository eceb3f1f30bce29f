"""Run inside the compose topology's namespaces: a port-publishing proxy, and clients that produce and consume."""

import socket
import sys
import threading

from kafka import KafkaProducer

from clickkit.broker.gate import pump
from clickkit.broker.health import wait_until_ready
from clickkit.broker.topics import ensure_topic, read_topic


def proxy(listen_host: str, listen_port: str, target_host: str, target_port: str) -> None:
    """Forward every connection to the target, as Docker's proxy does for a published port."""
    server = socket.create_server((listen_host, int(listen_port)))
    print("listening", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection((target_host, int(target_port)), timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()


def produce(bootstrap_servers: str, topic: str, token: str) -> None:
    """Create the topic if needed and write the token to it, acknowledged by every in-sync replica."""
    ensure_topic(bootstrap_servers, topic)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", max_block_ms=30000, bootstrap_timeout_ms=30000
    )
    try:
        sent = producer.send(topic, token.encode()).get(timeout=30)
    finally:
        producer.close(timeout=10)
    print(f"produced {token} to {topic}[{sent.partition}]@{sent.offset} through {bootstrap_servers}")


def consume(bootstrap_servers: str, topic: str, token: str) -> int:
    """Read the topic from its start and return 0 if the token is on it."""
    values = read_topic(bootstrap_servers, topic, timeout_s=60)
    if token.encode() in values:
        print(f"consumed {token} from {topic} through {bootstrap_servers}")
        return 0
    print(f"{token} is not among the {len(values)} records on {topic} read through {bootstrap_servers}")
    return 1


def main(argv) -> int:
    """Run one command: proxy, wait, produce or consume."""
    command, *args = argv
    if command == "proxy":
        proxy(*args)
    elif command == "wait":
        wait_until_ready(args[0], float(args[1]))
        print(f"Kafka answers at {args[0]}")
    elif command == "produce":
        produce(*args)
    elif command == "consume":
        return consume(*args)
    else:
        raise SystemExit(f"unknown command {command!r}: use proxy, wait, produce or consume")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
