"""Write what grading found: the class view (gradebook.md, a pass-rate plot, CSVs) and one feedback file a student.

Student text (names, cell errors, what an endpoint answered) is quoted, never obeyed: escaped in Markdown and
HTML, fenced in code blocks it cannot close, kept from spreadsheet formulas, and shown without control characters.
"""

import csv
import html
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from clickkit.grading import rubric
from clickkit.grading.submissions import file_stem, unique_stems
from clickkit.tables import markdown_table

# Characters that reorder or break lines however a terminal or an editor shows them ("Trojan Source").
LAYOUT_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2028\u2029\u2066\u2067\u2068\u2069")
MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
MARKDOWN_SPECIAL = "\\`*_[]~$|"  # each is written with a backslash before it
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection list


@dataclass
class Result:
    """One submission's verdicts (check key -> {passed, note, evidence}), or why it could not be run."""

    submission: str
    verdicts: dict = field(default_factory=dict)
    remark: str = ""  # e.g. "not a notebook": every check then fails with this note
    grader_error: str = ""  # the grader or Kafka failed twice on it: not graded, and no points taken away
    stem: str = ""  # its feedback, JUnit and log files' name, unique in the run (submissions.Submission.stem)

    def passed(self, key: str) -> bool:
        return bool(self.verdicts.get(key, {}).get("passed"))

    @property
    def points(self):
        if self.grader_error:
            return "not graded"
        return sum(check.points for check in rubric.RUBRIC if self.passed(check.key))

    @property
    def login(self) -> str:
        """Return the student's identifier: the notebook's folder when it has one, else its file name."""
        path = Path(self.submission)
        return path.parent.name if path.parent.name else path.stem


class Block(NamedTuple):
    """One piece of feedback: the grader picks its kind; the text may be the student's."""

    kind: str  # title, check (passed or not), strong, quote, advice
    text: str
    detail: str = ""  # the score of a title; "pass" or "fail" for a check


def printable(text: str, keep: str = "") -> str:
    """Return the text with control characters (C0, C1, DEL, bidi, lone surrogates) shown as escapes, not sent."""
    return "".join(
        char
        if char in keep or not (unicodedata.category(char) in ("Cc", "Cs") or char in LAYOUT_CONTROLS)
        else ascii(char)[1:-1]
        for char in str(text)
    )


def escaped(text: str, in_table: bool = False) -> str:
    """Return the text as Markdown shows it literally, on one line; markdown_table escapes `|` in its cells."""
    special = MARKDOWN_SPECIAL.replace("|", "") if in_table else MARKDOWN_SPECIAL
    return "".join(
        MARKDOWN_ENTITIES.get(char) or ("\\" + char if char in special else char) for char in printable(text)
    )


def fenced(text: str) -> list:
    """Return the text as a fenced code block that no line of it can close: the fence is its longest `-run + 1."""
    text = printable(text, keep="\n")
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))
    return [fence, *text.split("\n"), fence]


def csv_text(text: str) -> str:
    """Return student text for a CSV cell: printable, and never read as a formula (OWASP: a leading ')."""
    text = printable(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def pass_rates(results: list) -> list:
    """Return (check, share of the class that passed it) for every check."""
    return [(check, sum(r.passed(check.key) for r in results) / max(1, len(results))) for check in rubric.RUBRIC]


def plot_pass_rates(results: list, path: Path) -> None:
    """Draw each check's pass rate as a horizontal bar, weakest concept at the top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = sorted(pass_rates(results), key=lambda pair: -pair[1])
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(rates) + 1))
    axes.barh([check.key for check, _ in rates], [100 * rate for _, rate in rates], color="#3b7dd8")
    axes.set_xlim(0, 100)
    axes.set_xlabel(f"% of the class that passed ({len(results)} submissions)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def feedback_blocks(result: Result) -> list:
    """Return the student's feedback as Blocks: each check, passed or not, with evidence and advice."""
    blocks = [Block("title", result.submission, f"{result.points}/{rubric.MAX_POINTS}")]
    if result.grader_error:
        return blocks + [
            Block(
                "strong",
                f"Not graded: the grader failed on this notebook ({result.grader_error}). This is not your "
                "fault; your instructor will grade it again.",
            )
        ]
    if result.remark:
        blocks.append(Block("strong", result.remark))
    for check in rubric.RUBRIC:
        verdict = result.verdicts.get(check.key, {"passed": False, "note": result.remark or "not checked"})
        earned, mark, kind = (check.points, "✓", "pass") if verdict["passed"] else (0, "✗", "fail")
        blocks.append(Block("check", f"{mark} {check.requirement} ({earned}/{check.points})", kind))
        if not verdict["passed"]:
            blocks.append(Block("quote", str(verdict.get("note") or "Not met")))
        if verdict.get("evidence"):
            blocks.append(Block("quote", "\n".join(map(str, verdict["evidence"]))))
        if not verdict["passed"]:
            blocks.append(Block("advice", check.advice))
    return blocks


def feedback_lines(result: Result) -> list:
    """Return the student's feedback as Markdown lines; only the grader's own words are written unescaped."""
    lines = []
    for block in feedback_blocks(result):
        if block.kind == "title":
            lines += [f"# {escaped(block.text)}: {block.detail}"]
        elif block.kind == "check":
            lines += ["", f"## {block.text}"]
        elif block.kind == "strong":
            lines += ["", f"**{escaped(block.text.strip())}**"]
        elif block.kind == "quote":
            lines += ["", *fenced(block.text)]
        elif block.kind == "advice":
            lines += ["", f"**What to do:** {block.text}"]
    return lines + [""]


def feedback_html(result: Result, stem: str) -> str:
    """Return the student's feedback as a standalone HTML page, every text escaped."""

    def shown(text: str) -> str:
        return html.escape(printable(text, keep="\n"))

    tags = {
        "title": lambda block: f"<h1>{shown(block.text)}: {shown(block.detail)}</h1>",
        "check": lambda block: f"<h2 class='{block.detail}'>{shown(block.text)}</h2>",
        "strong": lambda block: f"<p><strong>{shown(block.text)}</strong></p>",
        "quote": lambda block: f"<pre>{shown(block.text)}</pre>",
        "advice": lambda block: f"<p><strong>What to do:</strong> {shown(block.text)}</p>",
    }
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}.pass{color:#16703a}.fail{color:#b3261e}"
        "pre{background:#f4f4f4;padding:.4em;white-space:pre-wrap}"
    )
    page = f"<!doctype html><meta charset=utf-8><title>{html.escape(stem)}</title><style>{style}</style>"
    return page + "\n".join(tags[block.kind](block) for block in feedback_blocks(result)) + "\n"


def feedback_stem(result: Result) -> str:
    """Return the name of a submission's feedback files, without the extension."""
    return result.stem or file_stem(result.submission)


def stems_of(results: list) -> list:
    """Return each result's stem: the grader's, or for a result without one, a stem no other result has."""
    given = {r.stem.lower() for r in results if r.stem}
    others = unique_stems([r.submission for r in results if not r.stem], taken=given)
    return [r.stem or others[r.submission] for r in results]


def write_feedback(result: Result, folder: Path, stem: str = "") -> None:
    """Write one student's feedback as Markdown and as a standalone HTML page."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or feedback_stem(result)
    (folder / f"{stem}.md").write_text("\n".join(feedback_lines(result)), encoding="utf-8")
    (folder / f"{stem}.html").write_text(feedback_html(result, stem), encoding="utf-8")


def lms_feedback(result: Result, sharing: list) -> str:
    """Return the LMS's feedback cell: what was lost, and the other submissions of the same login."""
    lost = [check.key for check in rubric.RUBRIC if not result.passed(check.key)]
    summary = (
        f"not graded: {result.grader_error}"
        if result.grader_error
        else "lost: " + ", ".join(lost)
        if lost
        else "all passed"
    )
    if len(sharing) > 1:  # neither row may pass for the other: the instructor decides
        summary = f"duplicate login: {len(sharing)} submissions ({', '.join(sharing)}) share it; {summary}"
    return csv_text(summary)


def write_all(results: list, folder: Path, warning: str = "") -> None:
    """Write gradebook.md, gradebook.csv, lms.csv, pass-rates.png and the feedback folder."""
    folder.mkdir(parents=True, exist_ok=True)
    stems = stems_of(results)
    plot_pass_rates([r for r in results if not r.grader_error], folder / "pass-rates.png")
    with open(folder / "gradebook.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["submission", "points", "max_points"] + [check.key for check in rubric.RUBRIC])
        for r in results:
            writer.writerow(
                [csv_text(r.submission), r.points, rubric.MAX_POINTS]
                + ["" if r.grader_error else check.points if r.passed(check.key) else 0 for check in rubric.RUBRIC]
            )
    with open(folder / "lms.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["login", "points", "max_points", "feedback"])
        for r in results:
            sharing = [other.submission for other in results if other.login == r.login]
            points = "" if r.grader_error else r.points
            writer.writerow([csv_text(r.login), points, rubric.MAX_POINTS, lms_feedback(r, sharing)])
    graded = [r for r in results if not r.grader_error]
    rates = markdown_table(
        ["check", "points", "passed by"],
        ([f"{check.requirement} (`{check.key}`)", check.points, f"{rate:.0%}"] for check, rate in pass_rates(graded)),
    )
    table = markdown_table(
        ["submission", "points", "lost"],
        (
            [
                f"[{escaped(r.submission, in_table=True)}](feedback/{quote(stem)}.md)",
                f"{r.points}/{rubric.MAX_POINTS}",
                "NOT GRADED: grader error"
                if r.grader_error
                else ", ".join(c.key for c in rubric.RUBRIC if not r.passed(c.key)) or "-",
            ]
            for r, stem in zip(results, stems)
        ),
    )
    parts = [
        "# Gradebook",
        warning,
        "## Pass rate per check",
        rates,
        "![pass rate per check](pass-rates.png)",
        "## Submissions",
        table,
    ]
    (folder / "gradebook.md").write_text("\n\n".join(part for part in parts if part) + "\n", encoding="utf-8")
    for r, stem in zip(results, stems):
        write_feedback(r, folder / "feedback", stem)
