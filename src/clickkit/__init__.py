"""A hands-on kit for ingesting a click stream into Apache Kafka."""
