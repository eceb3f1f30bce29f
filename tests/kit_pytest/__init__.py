"""The suite's pytest plugins: broker and topics (the release's too), the notebook rules (this kit's only)."""
