"""Load the kit's pytest plugins (tests/kit_pytest/): the broker, the tests' topics, the notebooks' given cells."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))

pytest_plugins = ["kit_pytest.broker", "kit_pytest.topics", "kit_pytest.given_cells"]
