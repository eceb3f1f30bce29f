"""Write what grading found: the class view (gradebook.md, a pass-rate plot, CSVs) and one feedback file a student."""

import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

from clickkit.grading import rubric
from clickkit.tables import markdown_table


@dataclass
class Result:
    """One submission's verdicts (check key -> {passed, note, evidence}), or why it could not be run."""

    submission: str
    verdicts: dict = field(default_factory=dict)
    remark: str = ""  # e.g. "not a notebook": every check then fails with this note
    grader_error: str = ""  # the grader or Kafka failed twice on it: not graded, and no points taken away

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


def feedback_lines(result: Result) -> list:
    """Return the student's feedback as Markdown lines: each check, passed or not, with evidence and advice."""
    lines = [f"# {result.submission}: {result.points}/{rubric.MAX_POINTS}", ""]
    if result.grader_error:
        return lines + [f"**Not graded: the grader failed on this notebook ({result.grader_error}). This is not your "
                        "fault; your instructor will grade it again.**", ""]
    if result.remark:
        lines += [f"**{result.remark}**", ""]
    for check in rubric.RUBRIC:
        verdict = result.verdicts.get(check.key, {"passed": False, "note": result.remark or "not checked"})
        mark = "✓" if verdict["passed"] else "✗"
        earned = check.points if verdict["passed"] else 0
        lines.append(f"## {mark} {check.requirement} ({earned}/{check.points})")
        if not verdict["passed"]:
            lines.append(f"\n{verdict.get('note') or 'Not met'}.")
        for evidence in verdict.get("evidence", []):
            lines.append(f"\n    {evidence}")
        if not verdict["passed"]:
            lines.append(f"\n**What to do:** {check.advice}")
        lines.append("")
    return lines


def feedback_stem(result: Result) -> str:
    """Return the name of a submission's feedback files, without the extension."""
    return result.submission.replace("/", "__").removesuffix(".ipynb")


def write_feedback(result: Result, folder: Path) -> None:
    """Write one student's feedback as Markdown and as a standalone HTML page."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = feedback_stem(result)
    markdown = "\n".join(feedback_lines(result)) + "\n"
    (folder / f"{stem}.md").write_text(markdown, encoding="utf-8")
    body = []
    for line in feedback_lines(result):
        text = html.escape(line)
        if line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2 class='{'pass' if '✓' in line else 'fail'}'>{text[3:]}</h2>")
        elif line.startswith("    "):
            body.append(f"<pre>{text.strip()}</pre>")
        elif line.strip():
            body.append(f"<p>{text.replace('**', '')}</p>")
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto}.pass{color:#16703a}.fail{color:#b3261e}" \
            "pre{background:#f4f4f4;padding:.4em;white-space:pre-wrap}"
    page = f"<!doctype html><meta charset=utf-8><title>{html.escape(stem)}</title><style>{style}</style>"
    (folder / f"{stem}.html").write_text(page + "\n".join(body) + "\n", encoding="utf-8")


def write_all(results: list, folder: Path, warning: str = "") -> None:
    """Write gradebook.md, gradebook.csv, lms.csv, pass-rates.png and the feedback folder."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_pass_rates([r for r in results if not r.grader_error], folder / "pass-rates.png")
    with open(folder / "gradebook.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["submission", "points", "max_points"] + [check.key for check in rubric.RUBRIC])
        for r in results:
            writer.writerow([r.submission, r.points, rubric.MAX_POINTS] +
                            ["" if r.grader_error else check.points if r.passed(check.key) else 0
                             for check in rubric.RUBRIC])
    with open(folder / "lms.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["login", "points", "max_points", "feedback"])
        for r in results:
            lost = [check.key for check in rubric.RUBRIC if not r.passed(check.key)]
            summary = f"not graded: {r.grader_error}" if r.grader_error else \
                "lost: " + ", ".join(lost) if lost else "all passed"
            writer.writerow([r.login, "" if r.grader_error else r.points, rubric.MAX_POINTS, summary])
    graded = [r for r in results if not r.grader_error]
    rates = markdown_table(["check", "points", "passed by"], (
        [f"{check.requirement} (`{check.key}`)", check.points, f"{rate:.0%}"] for check, rate in pass_rates(graded)))
    table = markdown_table(["submission", "points", "lost"], (
        [f"[{r.submission}](feedback/{feedback_stem(r)}.md)", f"{r.points}/{rubric.MAX_POINTS}",
         "NOT GRADED: grader error" if r.grader_error else
         ", ".join(c.key for c in rubric.RUBRIC if not r.passed(c.key)) or "-"] for r in results))
    parts = ["# Gradebook", warning, "## Pass rate per check", rates,
             "![pass rate per check](pass-rates.png)", "## Submissions", table]
    (folder / "gradebook.md").write_text("\n\n".join(part for part in parts if part) + "\n", encoding="utf-8")
    for r in results:
        write_feedback(r, folder / "feedback")
