"""The classroom demo: the article site, and a live page of what reaches Kafka."""
