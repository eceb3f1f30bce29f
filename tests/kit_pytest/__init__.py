"""The suite's pytest plugins, loaded by the root conftest.py: broker, topics, notebook rules."""
