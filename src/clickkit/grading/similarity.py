"""Write similarity.html: the pairs of students whose own code is most alike, as evidence for a person to read.

copydetect (the winnowing of MOSS, in process) fingerprints each student's code without the exercise's given
code and without the course's check cells, then compares every pair: n(n-1)/2 comparisons of fingerprint sets.
"""

import heapq
import html
import io
import itertools
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import nbformat
from copydetect import CodeFingerprint, compare_files
from copydetect.defaults import GUARANTEE_THRESHOLD, NOISE_THRESHOLD

from clickkit.course.check_cells import is_check, titles

PAGE = "similarity.html"  # the gradebook folder links it from gradebook.md
WINDOW = GUARANTEE_THRESHOLD - NOISE_THRESHOLD + 1  # copydetect's own window for its default thresholds
NOTICE = (
    "A pair on this page is evidence for a person to read, never a penalty. Code is alike for honest reasons too: "
    "the same worked example, a hint given in class, a study group, a short task with one natural answer. "
    "Read both columns, then talk with the students before concluding anything."
)


@dataclass(frozen=True)
class Pair:
    """Two students, the share of their own code the other has too (the larger of the two), and both codes."""

    login_a: str
    login_b: str
    score: float
    code_a: str
    code_b: str
    shares: tuple = (0.0, 0.0)  # each student's share of their code found in the other's
    marked_a: tuple = ()  # (start, end) in code_a of what code_b has too
    marked_b: tuple = ()


def as_notebook(notebook) -> nbformat.NotebookNode:
    """Return a parsed notebook from a NotebookNode, a path, or the file's bytes or text."""
    if isinstance(notebook, nbformat.NotebookNode):
        return notebook
    if isinstance(notebook, Path):
        return nbformat.read(notebook, as_version=4)
    return nbformat.reads(notebook.decode("utf-8") if isinstance(notebook, bytes) else notebook, as_version=4)


def exercise_code(exercise) -> str:
    """Return the exercise's given code (its code cells but the checks): the boilerplate each student starts from."""
    return "\n\n".join(
        cell.source for cell in as_notebook(exercise).cells if cell.cell_type == "code" and not is_check(cell)
    )


def student_code(notebook, exercise) -> str:
    """Return the code cells a student wrote or changed: not the exercise's untouched cells, not its checks."""
    exercise = as_notebook(exercise)
    given = {cell.get("id"): cell.source.strip() for cell in exercise.cells if cell.cell_type == "code"}
    checks = [cell for cell in exercise.cells if is_check(cell)]
    check_ids, check_titles = {cell.get("id") for cell in checks}, {titles(cell) for cell in checks} - {()}
    # A check is known by its id, or by its titles when JupyterLab gave a copied cell a new id (as the grader does).
    return "\n\n".join(
        cell.source
        for cell in as_notebook(notebook).cells
        if cell.cell_type == "code"
        and cell.get("id") not in check_ids
        and titles(cell) not in check_titles
        and given.get(cell.get("id")) != cell.source.strip()
    )


def fingerprints(submissions: dict, boilerplate_code: str) -> dict:
    """Return {login: copydetect fingerprint of their code, less every k-gram of the boilerplate}."""

    def fingerprint(name, code, window, boilerplate=None):
        return CodeFingerprint(name, NOISE_THRESHOLD, window, boilerplate, language="python", fp=io.StringIO(code))

    given = sorted(fingerprint("boilerplate.py", boilerplate_code, 1).hashes)  # every k-gram, as copydetect does
    return {login: fingerprint(f"{login}.py", code, WINDOW, given) for login, code in submissions.items()}


def pairs(submissions: dict, boilerplate_code: str, top: int | None = None) -> list:
    """Return the pairs of {login: code} by score, highest first (the `top` ones, or all)."""
    prints = fingerprints(submissions, boilerplate_code)

    def scored(a, b):
        if prints[a].hashes.isdisjoint(prints[b].hashes):  # nothing in common: 0, without copydetect's slicing
            return 0.0, a, b
        _, shares, _ = compare_files(prints[a], prints[b])
        return max(shares), a, b

    everyone = (scored(a, b) for a, b in itertools.combinations(sorted(prints), 2))
    ranked = heapq.nlargest(top, everyone) if top is not None else sorted(everyone, reverse=True)
    found = []
    for score, a, b in ranked:  # only the pairs shown are compared again, to keep where their code is alike
        _, shares, (slices_a, slices_b) = compare_files(prints[a], prints[b])
        found.append(
            Pair(
                a,
                b,
                float(score),
                submissions[a],
                submissions[b],
                tuple(map(float, shares)),
                spans(slices_a),
                spans(slices_b),
            )
        )
    return found


def spans(slices) -> tuple:
    """Return copydetect's 2xN slices as sorted (start, end) pairs, overlaps merged."""
    merged = []
    starts, ends = slices if len(slices) == 2 else ([], [])  # copydetect gives an empty 1-D array for no overlap
    for start, end in sorted(zip(map(int, starts), map(int, ends))):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def marked(code: str, spans_: tuple) -> str:
    """Return the code HTML-escaped, what the other student has too inside <mark>."""
    parts, at = [], 0
    for start, end in spans_:
        start, end = max(start, at), min(end, len(code))
        if start < end:
            parts += [html.escape(code[at:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
            at = end
    return "".join(parts + [html.escape(code[at:])])


STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
.notice { background: #fff4d6; border-left: 4px solid #d89b00; padding: 0.6em 1em; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; font-size: 0.85em; }
mark { background: #ffd5d5; }
td, th { padding: 0.2em 0.8em; text-align: left; }
"""


def page(found: list, students: int, unread: dict | None = None) -> str:
    """Return the HTML page of these pairs; every student text on it (logins, code, notes) is escaped."""
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="#pair-{n}">{n}</a></td><td>{e(p.login_a)}</td><td>{e(p.login_b)}</td>'
        f"<td>{p.score:.0%}</td><td>{p.shares[0]:.0%} / {p.shares[1]:.0%}</td></tr>"
        for n, p in enumerate(found, start=1)
    )
    sections = "".join(
        f'<section id="pair-{n}"><h2>{n}. {e(p.login_a)} and {e(p.login_b)}: {p.score:.0%}</h2><div class="side">'
        f"<div><h3>{e(p.login_a)}</h3><pre>{marked(p.code_a, p.marked_a)}</pre></div>"
        f"<div><h3>{e(p.login_b)}</h3><pre>{marked(p.code_b, p.marked_b)}</pre></div></div></section>"
        for n, p in enumerate(found, start=1)
    )
    skipped = "".join(f"<li>{e(login)}: {e(why)}</li>" for login, why in (unread or {}).items())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Similar code</title>'
        f"<style>{STYLE}</style></head><body><h1>Similar code</h1><p class='notice'>{e(NOTICE)}</p>"
        f"<p>{students} submissions, {students * (students - 1) // 2:,} pairs compared by copydetect "
        f"{e(version('copydetect'))}. Only what each student wrote counts: the exercise's given code is subtracted "
        "and the course's check cells are left out. A pair's score is the larger of the two students' shares of "
        "their own code that the other has too, names of variables and functions set aside; "
        "<mark>marked</mark> code is what both have.</p>"
        + (f"<p>Not compared:</p><ul>{skipped}</ul>" if skipped else "")
        + (
            "<table><tr><th>#</th><th>student</th><th>student</th><th>score</th><th>shares</th></tr>"
            f"{rows}</table>{sections}"
            if found
            else "<p>No two students share any code of their own.</p>"
        )
        + "</body></html>\n"
    )


def report(submissions: dict, boilerplate_code: str, path: Path, top: int = 20, unread: dict | None = None) -> list:
    """Write the page of the `top` most alike pairs of {login: code} to path; return those pairs."""
    found = [pair for pair in pairs(submissions, boilerplate_code, top) if pair.score > 0]
    Path(path).write_text(page(found, len(submissions), unread), encoding="utf-8")
    return found


def report_notebooks(notebooks: dict, exercise, path: Path, top: int = 20) -> list:
    """Write the page for {login: notebook bytes} of one exercise (a path or notebook); return the pairs shown."""
    exercise, codes, unread = as_notebook(exercise), {}, {}
    for login, data in notebooks.items():
        try:
            codes[login] = student_code(data, exercise)
        except Exception as error:  # not JSON, not a notebook: the student's file, said without quoting it
            unread[login] = f"not a Jupyter notebook in JSON ({type(error).__name__})"
    return report(codes, exercise_code(exercise), path, top, unread)


def gradebook_line(found: list) -> str:
    """Return the Markdown line for gradebook.md that links the page."""
    return f"[Similar code]({PAGE}): {len(found)} pairs of students whose own code is most alike, evidence to read."
