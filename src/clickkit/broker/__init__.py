"""The Kafka runtime: a local broker from Maven Central, its health, topics, and a cuttable address."""
