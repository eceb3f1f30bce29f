"""Show the contract's values in Markdown: `{{ NAME }}` in a solution, `<!-- NAME -->value<!-- end -->` in the docs.

`make exercises` replaces each `{{ NAME }}` of a solution's Markdown with the value in the student's notebook,
and rewrites the value between the comment markers of the docs (they stay in place, invisible once rendered).
"""

import re

from clickkit import contract, schema
from clickkit.config import REPO_ROOT
from clickkit.errors import MarkerError
from clickkit.tables import markdown_table

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# The value may sit in backticks, which stay; a marker in backticks is shown, not filled.
IN_PLACE = re.compile(r"(?<!`)<!-- ([A-Za-z_][A-Za-z0-9_]*) -->(`?)(.*?)(`?)<!-- end -->", re.DOTALL)


def contract_values() -> dict:
    """Return {NAME: text} for every marker: the contract's facts, the click's fields, the rubric as a table."""
    text = {name: str(value) for name, value in contract.values().items()}
    rows = [[f"`{check.key}`", check.points, check.requirement] for check in contract.RUBRIC]
    text["CLICK_FIELD_COUNT"] = str(len(schema.FIELDS))
    text["CLICK_FIELD_NAMES"] = ", ".join(f"`{name}`" for name in schema.FIELDS)
    text["RUBRIC_TABLE"] = "\n\n" + markdown_table(["check", "points", "requirement"], rows) + "\n\n"
    return text


def value_of(name: str, where: str) -> str:
    """Return the marker's text, or raise MarkerError naming the markers there are."""
    values = contract_values()
    if name not in values:
        raise MarkerError(
            f"{where}: no contract value is called {name}. Use one of {', '.join(sorted(values))} "
            "(clickkit/contract.py)."
        )
    return values[name]


def fill(text: str, where: str) -> str:
    """Replace every `{{ NAME }}` with the contract's value."""
    return PLACEHOLDER.sub(lambda match: value_of(match.group(1), where), text)


def refresh(text: str, where: str) -> str:
    """Rewrite the value between every `<!-- NAME -->` and `<!-- end -->` from the contract."""

    def replace(match):
        name, tick, _, closing = match.groups()
        value = value_of(name, where)
        if value.startswith("`"):  # a list of names in backticks of their own
            tick = closing = ""
        return f"<!-- {name} -->{tick}{value}{closing}<!-- end -->"

    return IN_PLACE.sub(replace, text)


def doc_pages(root=REPO_ROOT) -> list:
    """Return the README and every page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def stale_docs(root=REPO_ROOT) -> list:
    """Return the docs whose marked values differ from the contract."""
    return [
        path
        for path in doc_pages(root)
        if refresh(path.read_text(encoding="utf-8"), path.name) != path.read_text(encoding="utf-8")
    ]


def write_docs(root=REPO_ROOT) -> list:
    """Rewrite the marked values of the docs that differ from the contract; return the paths written."""
    written = []
    for path in stale_docs(root):
        path.write_text(refresh(path.read_text(encoding="utf-8"), path.name), encoding="utf-8")
        written.append(path)
    return written
