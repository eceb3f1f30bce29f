"""Load the endpoint a notebook defines in its cells tagged `endpoint`: a student's 01 notebook, say."""

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from clickkit.errors import EndpointError

ENDPOINT_TAG = "endpoint"
_loaded = {}  # (path, modification time) -> Endpoint: a notebook's cells run once until it is saved again


@dataclass(frozen=True)
class Endpoint:
    """What the kit needs of a notebook's endpoint: its app factory, and how to close the app's producer."""

    create_app: Callable
    close_producer: Callable
    notebook: Path


def endpoint_source(notebook: Path) -> str:
    """Return the code of the notebook's cells tagged `endpoint`, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    chunks = [
        "".join(cell["source"])
        for cell in cells
        if cell["cell_type"] == "code" and ENDPOINT_TAG in cell.get("metadata", {}).get("tags", [])
    ]
    if not chunks:
        raise EndpointError(f"{notebook} has no code cell tagged '{ENDPOINT_TAG}': is it the 01 notebook?")
    return "\n\n".join(chunks)


def load_endpoint(notebook) -> Endpoint:
    """Run the notebook's endpoint cells once, silently, and return its validated Endpoint."""
    path = Path(notebook).resolve()
    if not path.exists():
        raise EndpointError(f"{notebook} was not found: save your 01 notebook next to this one.")
    key = (path, path.stat().st_mtime_ns)
    if key not in _loaded:
        namespace = {"__name__": "clickkit_notebook_endpoint"}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(endpoint_source(path), str(path), "exec"), namespace)
        missing = [name for name in ("create_app", "close_producer") if not callable(namespace.get(name))]
        if missing:
            raise EndpointError(
                f"{path.name} defines no {' or '.join(missing)}: keep the given cells of its "
                "`endpoint` cells, and run them once to check."
            )
        _loaded[key] = Endpoint(namespace["create_app"], namespace["close_producer"], path)
    return _loaded[key]
