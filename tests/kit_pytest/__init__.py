"""The suite's pytest plugins, loaded by the root conftest.py: the broker, the topics, the notebook rules, the endpoint."""
