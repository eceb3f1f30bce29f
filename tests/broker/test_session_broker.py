"""The broker every test shares really stores and returns messages."""

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def test_produce_and_consume_on_a_fresh_topic(bootstrap_servers, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", max_block_ms=15000)
    offsets = [producer.send(topic, f"message {i}".encode()).get(timeout=15).offset for i in range(3)]
    producer.close()
    assert offsets == [0, 1, 2]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, consumer_timeout_ms=15000)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    values = [record.value for _, record in zip(range(3), consumer)]
    consumer.close()
    assert values == [b"message 0", b"message 1", b"message 2"]
