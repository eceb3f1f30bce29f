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


# The statuses a student may have (roster.Status); only graded and late count in the class's pass rates.
GRADED, LATE, MISSING, NOT_GRADED, UNKNOWN = "graded", "late", "missing", "not graded", "unknown"
JUDGED = (GRADED, LATE)
TOTAL = "total"  # an override's check that sets the points themselves


@dataclass
class Result:
    """One submission's verdicts (check key -> {passed, note, evidence}), or why it could not be run."""

    submission: str
    verdicts: dict = field(default_factory=dict)
    remark: str = ""  # e.g. "not a notebook": every check then fails with this note
    grader_error: str = ""  # the grader or Kafka failed twice on it: not graded, and no points taken away
    stem: str = ""  # its feedback, JUnit and log files' name, unique in the run (submissions.Submission.stem)
    github: str = ""  # the student's GitHub login; "" for a loose notebook
    lab: str = "01"
    status: str = GRADED  # GRADED, LATE, MISSING, NOT_GRADED or UNKNOWN
    commit: str = ""  # the commit graded ("" for a loose notebook or a folder that is no git repository)
    committed_at: str = ""
    found_at: str = ""  # where the notebook was, when not at the lab's own path
    penalty: float = 0.0  # the share of the points LATE takes off
    late_by_hours: float = 0.0
    later_commits: int = 0
    notes: list = field(default_factory=list)  # the grader's sentences: why missing, where found, how late
    overrides: dict = field(default_factory=dict)  # check key or TOTAL -> {"points", "reason", "was"}

    def passed(self, key: str) -> bool:
        return bool(self.verdicts.get(key, {}).get("passed"))

    @property
    def judged(self) -> bool:
        """Tell whether the notebook was run and judged: graded or late, the grader having not failed."""
        return self.status in JUDGED and not self.grader_error

    def check_points(self, key: str):
        """Return the points of one check: an override's, else what the verdict earned; "" when none was judged."""
        if key in self.overrides:
            return number(self.overrides[key]["points"])
        if not self.judged:
            return ""
        return rubric.CHECKS[key].points if self.passed(key) else 0

    @property
    def earned(self):
        """Return the points of the checks before any late penalty or total override."""
        return sum(self.check_points(check.key) or 0 for check in rubric.RUBRIC)

    @property
    def points(self):
        """Return the points every output shows: overrides and the late penalty applied; "" for no grade."""
        if TOTAL in self.overrides:
            return number(self.overrides[TOTAL]["points"])
        if self.grader_error:
            return "not graded"
        if not self.judged and not self.overrides:
            return ""
        return number(self.earned * (1 - self.penalty))

    @property
    def login(self) -> str:
        """Return the student's identifier: the GitHub login, else the notebook's folder, else its file name."""
        if self.github:
            return self.github
        path = Path(self.submission)
        return path.parent.name if path.parent.name else path.stem


def number(points):
    """Return points as a spreadsheet shows them: whole numbers without `.0`, others to two decimals."""
    points = round(float(points), 2)
    return int(points) if points.is_integer() else points


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


def score(result: Result) -> str:
    """Return the feedback's and the table's score: `12/17`, or the status when there are no points."""
    if result.points == "":
        return result.status
    return f"{result.points}/{rubric.MAX_POINTS}"


def override_sentences(result: Result) -> list:
    """Return one sentence per instructor's change of the points, with its reason."""
    said = []
    for key, change in result.overrides.items():
        what = "The total" if key == TOTAL else f"“{rubric.CHECKS[key].requirement}”"
        points = number(change["points"])
        said.append(
            f"{what} was set to {points} point{'s' if points != 1 else ''} by your instructor: {change['reason']}"
        )
    return said


def feedback_blocks(result: Result) -> list:
    """Return the student's feedback as Blocks: what was graded, then each check, with evidence and advice."""
    blocks = [Block("title", result.submission, score(result))]
    if result.grader_error:
        return blocks + [
            Block(
                "strong",
                f"Not graded: the grader failed on this notebook ({result.grader_error}). This is not your "
                "fault; your instructor will grade it again.",
            )
        ]
    if result.commit:
        blocks.append(Block("strong", f"Graded: commit {result.commit[:10]}, committed {result.committed_at}."))
    # The notes say once why nothing was graded (missing, unknown), or where the notebook was and how late.
    blocks += [Block("strong", note) for note in result.notes]
    blocks += [Block("strong", sentence) for sentence in override_sentences(result)]
    if not result.judged:
        return blocks
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


def sentences(result: Result) -> str:
    """Return the feedback as plain sentences for an LMS's feedback cell: what was lost and what to do."""
    said = [*result.notes, *override_sentences(result)]
    if result.grader_error:
        said.append("Not graded: the grader failed on this notebook; your instructor will grade it again.")
    elif result.judged:
        lost = [check for check in rubric.RUBRIC if not result.passed(check.key)]
        said.insert(0, f"{score(result)} points.")
        said += [f"Not met: {check.requirement}. What to do: {check.advice}" for check in lost]
        said += [] if lost else ["Every check passed."]
    return " ".join(printable(sentence) for sentence in said)


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
    if result.grader_error:
        summary = f"not graded: {result.grader_error}"
    elif not result.judged:
        summary = " ".join(result.notes) or result.status
    else:
        summary = "lost: " + ", ".join(lost) if lost else "all passed"
        summary += "".join(f"; {sentence}" for sentence in override_sentences(result))
        summary += f"; {100 * result.penalty:g}% off for lateness" if result.penalty else ""
    if len(sharing) > 1:  # neither row may pass for the other: the instructor decides
        summary = f"duplicate login: {len(sharing)} submissions ({', '.join(sharing)}) share it; {summary}"
    return csv_text(summary)


# gradebook.csv's columns before and after one per check (docs/grading.md, "Grading a class").
HEAD_COLUMNS = ["submission", "github", "lab", "status", "commit", "committed_at", "points", "max_points"]
TAIL_COLUMNS = ["late_by_hours", "penalty", "later_commits", "found_at", "notes", "overrides"]


def gradebook_row(result: Result) -> list:
    """Return one gradebook.csv row: every text the student could have written kept from formulas."""
    overrides = "; ".join(f"{key}={number(change['points'])}" for key, change in result.overrides.items())
    return [
        csv_text(result.submission),
        csv_text(result.login),
        result.lab,
        result.status,
        result.commit,
        result.committed_at,
        result.points,
        rubric.MAX_POINTS,
        *(result.check_points(check.key) for check in rubric.RUBRIC),
        result.late_by_hours or "",
        result.penalty or "",
        result.later_commits or "",
        csv_text(result.found_at),
        csv_text(" ".join(result.notes)),
        csv_text(overrides),
    ]


def lms_points(result: Result, missing: str):
    """Return lms.csv's points: the MISSING policy's cell for a student who handed in nothing."""
    if result.grader_error and TOTAL not in result.overrides:
        return ""
    if result.status == MISSING and result.points == "":
        return 0 if missing == "zero" else ""
    return result.points


def write_csvs(results: list, folder: Path, missing: str) -> None:
    """Write gradebook.csv, a row per submission, and lms.csv, a row per login."""
    with open(folder / "gradebook.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEAD_COLUMNS + [check.key for check in rubric.RUBRIC] + TAIL_COLUMNS)
        writer.writerows(gradebook_row(r) for r in results)
    with open(folder / "lms.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["login", "points", "max_points", "feedback"])
        for r in results:
            sharing = [other.submission for other in results if other.login.lower() == r.login.lower()]
            writer.writerow([csv_text(r.login), lms_points(r, missing), rubric.MAX_POINTS, lms_feedback(r, sharing)])


def write_all(results: list, folder: Path, warning: str = "", missing: str = "zero", more: tuple = ()) -> None:
    """Write gradebook.md (`more` Markdown parts at its end), gradebook.csv, lms.csv, pass-rates.png, feedback."""
    folder.mkdir(parents=True, exist_ok=True)
    stems = stems_of(results)
    judged = [r for r in results if r.judged]  # missing, unknown and not graded would count as failing
    plot_pass_rates(judged, folder / "pass-rates.png")
    write_csvs(results, folder, missing)
    rates = markdown_table(
        ["check", "points", "passed by"],
        ([f"{check.requirement} (`{check.key}`)", check.points, f"{rate:.0%}"] for check, rate in pass_rates(judged)),
    )
    table = markdown_table(
        ["submission", "status", "points", "lost"],
        (
            [
                f"[{escaped(r.submission, in_table=True)}](feedback/{quote(stem)}.md)",
                r.status,
                score(r),
                "NOT GRADED: grader error"
                if r.grader_error
                else ", ".join(c.key for c in rubric.RUBRIC if not r.passed(c.key)) or "-"
                if r.judged
                else "",
            ]
            for r, stem in zip(results, stems)
        ),
    )
    parts = [
        "# Gradebook",
        warning,
        "## Pass rate per check",
        f"Over the {len(judged)} notebooks graded; missing, unknown and not graded ones are left out."
        if judged
        else "",
        rates,
        "![pass rate per check](pass-rates.png)",
        *more,
        "## Submissions",
        table,
    ]
    (folder / "gradebook.md").write_text("\n\n".join(part for part in parts if part) + "\n", encoding="utf-8")
    for r, stem in zip(results, stems):
        write_feedback(r, folder / "feedback", stem)
