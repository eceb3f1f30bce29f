"""Load the suite's pytest plugins (tests/kit_pytest/): the broker, the topics, the notebook rules."""

import sys
from pathlib import Path

# The plugins and the helpers shared by tests in several folders (compose_*.py) live in tests/.
sys.path.insert(0, str(Path(__file__).parent / "tests"))

pytest_plugins = ["kit_pytest.broker", "kit_pytest.topics", "kit_pytest.notebook_rules"]
# The browser tour's node_modules hold no tests of ours.
collect_ignore_glob = ["tests/browser/*"]
