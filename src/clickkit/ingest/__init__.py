"""The reference ingest endpoint and the ways to serve it."""
