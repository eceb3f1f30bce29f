"""Load the endpoint a notebook defines in its cells tagged `endpoint`: a student's 01 notebook, say."""

import contextlib
import io
import json
from pathlib import Path

from clickkit.config import REPO_ROOT

SOLUTION_NOTEBOOK = REPO_ROOT / "solutions" / "01-ingest-api.ipynb"
ENDPOINT_TAG = "endpoint"


def endpoint_source(notebook: Path = SOLUTION_NOTEBOOK) -> str:
    """Return the code of the notebook's cells tagged `endpoint`, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    chunks = ["".join(cell["source"]) for cell in cells
              if cell["cell_type"] == "code" and ENDPOINT_TAG in cell.get("metadata", {}).get("tags", [])]
    if not chunks:
        raise RuntimeError(f"{notebook} has no code cell tagged '{ENDPOINT_TAG}'")
    return "\n\n".join(chunks)


def load_endpoint(notebook: Path = SOLUTION_NOTEBOOK) -> dict:
    """Run the endpoint cells in a fresh namespace, silently, and return it (it holds `create_app`)."""
    namespace = {"__name__": "clickkit_notebook_endpoint"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(endpoint_source(notebook), str(notebook), "exec"), namespace)
    return namespace
