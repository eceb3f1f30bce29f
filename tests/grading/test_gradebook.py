"""The gradebook and the feedback quote what students wrote, never obey it: in Markdown, HTML, CSV and the terminal."""

import csv
import re
from urllib.parse import quote

import pytest

from clickkit.grading import gradebook, rubric, submissions

FORGED = "## ✓ forged (99/2)"
HOSTILE = [
    f"line one\n{FORGED}\n# forged title",
    "</pre><script>alert(1)</script>",
    "```\n# out of the fence\n```",
    "    ````````````\n~~~\n" + FORGED,
    "<img src=x onerror=alert(1)>",
    "\x1b]0;owned\x07 and \x9b31m and \x7f",
]
NAMES = [
    '=HYPERLINK("http://evil","click").ipynb',
    "+1.ipynb",
    "-2.ipynb",
    "@SUM(A1).ipynb",
    "\tcell.ipynb",
    "<img src=x onerror=alert(1)>.ipynb",
    "</pre><script>alert(1)</script>.ipynb",
    f"x\n{FORGED}\n| row | forged |.ipynb",
    "\x1b]0;owned\x07.ipynb",
    "a```b [link](http://evil) & c.ipynb",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def hostile_result(name: str, stem: str) -> gradebook.Result:
    """Return a result whose every student text is hostile: half the checks passed, half failed."""
    verdicts = {
        check.key: {"passed": n % 2 == 0, "note": HOSTILE[n % len(HOSTILE)], "evidence": HOSTILE}
        for n, check in enumerate(rubric.RUBRIC)
    }
    return gradebook.Result(name, verdicts, remark=" ".join(HOSTILE), stem=stem)


@pytest.fixture
def written(tmp_path):
    """Write the gradebook of a class of hostile submissions and one the grader failed on; return its folder."""
    stems = submissions.unique_stems(NAMES + ["crashed.ipynb"])
    results = [hostile_result(name, stems[name]) for name in NAMES]
    failed = gradebook.Result("crashed.ipynb", grader_error="\n".join(HOSTILE), stem=stems["crashed.ipynb"])
    gradebook.write_all(results + [failed], tmp_path)
    return {"out": tmp_path, "results": results, "stems": stems}


def split_fences(markdown: str) -> tuple:
    """Return (lines outside fenced code blocks, the text of each block) as CommonMark reads backtick fences."""
    outside, blocks, fence, inside = [], [], None, []
    for line in markdown.split("\n"):
        if fence is None:
            opening = re.fullmatch(r" {0,3}(`{3,})[^`]*", line)
            if opening:
                fence, inside = opening.group(1), []
            else:
                outside.append(line)
        elif re.fullmatch(rf" {{0,3}}`{{{len(fence)},}}[ \t]*", line):
            blocks.append("\n".join(inside))
            fence = None
        else:
            inside.append(line)
    assert fence is None, "a fenced block is never closed"
    return outside, blocks


def unescaped(markdown: str, characters: str) -> list:
    """Return the characters of the text that Markdown would read as syntax: those no backslash escapes."""
    return [token for token in re.findall(r"\\.|.", markdown, re.DOTALL) if token in characters]


def test_feedback_headings_are_the_graders_alone(written):
    for result in written["results"]:
        markdown = (written["out"] / "feedback" / f"{result.stem}.md").read_text(encoding="utf-8")
        outside, _ = split_fences(markdown)
        headings = [line for line in outside if line.lstrip().startswith("#")]
        expected = [
            f"## {'✓' if result.passed(check.key) else '✗'} {check.requirement} "
            f"({check.points if result.passed(check.key) else 0}/{check.points})"
            for check in rubric.RUBRIC
        ]
        assert headings[1:] == expected and len([h for h in headings if h.startswith("# ")]) == 1, headings
        assert headings[0].endswith(f": {result.points}/{rubric.MAX_POINTS}")
        assert not [line for line in outside if "<script" in line.lower() or "<img" in line.lower()]
    crashed = (written["out"] / "feedback" / f"{written['stems']['crashed.ipynb']}.md").read_text(encoding="utf-8")
    headings = [line for line in split_fences(crashed)[0] if line.lstrip().startswith("#")]
    assert headings == [f"# crashed.ipynb: not graded/{rubric.MAX_POINTS}"]


def test_each_quote_stays_whole_inside_its_fence(written):
    result = written["results"][0]
    markdown = (written["out"] / "feedback" / f"{result.stem}.md").read_text(encoding="utf-8")
    _, blocks = split_fences(markdown)
    evidence = gradebook.printable("\n".join(HOSTILE), keep="\n")
    assert blocks.count(evidence) == len(rubric.RUBRIC)  # every check's evidence, whole, in one block
    failed_notes = [gradebook.printable(HOSTILE[n % len(HOSTILE)], keep="\n") for n in range(1, len(rubric.RUBRIC), 2)]
    assert [block for block in blocks if block != evidence] == failed_notes
    assert "\x1b" not in markdown and "\x9b" not in markdown and "\\x1b]0;owned\\x07" in markdown


def test_the_gradebook_shows_names_as_text_and_links_each_to_its_own_feedback(written):
    text = (written["out"] / "gradebook.md").read_text(encoding="utf-8")
    assert "<img" not in text.lower() and "<script" not in text.lower() and "\x1b" not in text
    rows = [line for line in text.split("\n") if line.startswith("| [")]
    assert len(rows) == len(NAMES) + 1  # a newline or a | in a name breaks no row
    for row, result in zip(rows, written["results"]):
        assert len(unescaped(row, "|")) == 5, row  # four cells, whatever the name holds
        link = f"](feedback/{quote(result.stem)}.md) |"
        assert link in row and (written["out"] / "feedback" / f"{result.stem}.md").exists()
        assert not unescaped(row[row.index("[") + 1 : row.index(link)], "[]`<>\n"), row  # nothing live in it


def test_no_csv_cell_from_a_student_starts_a_formula_and_numbers_stay_numbers(written):
    with open(written["out"] / "gradebook.csv", newline="", encoding="utf-8") as book:
        rows = list(csv.DictReader(book))
    assert [row["submission"] for row in rows[:4]] == ["'" + name for name in NAMES[:4]]
    with open(written["out"] / "lms.csv", newline="", encoding="utf-8") as lms:
        lms_rows = list(csv.DictReader(lms))
    cells = [row["submission"] for row in rows] + [row[key] for row in lms_rows for key in ("login", "feedback")]
    assert len(cells) == 3 * (len(NAMES) + 1)
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert not [cell for cell in cells if re.search(r"[\x00-\x1f\x7f-\x9f]", cell)]
    graded = rows[: len(NAMES)]
    assert [int(row["points"]) for row in graded] == [result.points for result in written["results"]]
    assert all(row["max_points"] == str(rubric.MAX_POINTS) for row in rows)
    assert all(row[check.key] in ("0", str(check.points)) for row in graded for check in rubric.RUBRIC)


def test_the_html_feedback_escapes_every_student_text(written):
    for result in written["results"]:
        page = (written["out"] / "feedback" / f"{result.stem}.html").read_text(encoding="utf-8")
        assert "<script" not in page.lower() and "<img" not in page.lower() and "\x1b" not in page
        assert page.count("<h1>") == 1 and page.count("<h2") == len(rubric.RUBRIC)
        assert page.count("<pre>") == page.count("</pre>") == len(rubric.RUBRIC) + len(rubric.RUBRIC) // 2
        assert "&lt;/pre&gt;&lt;script&gt;" in page


def test_the_terminal_is_shown_control_characters_never_sent():
    shown = gradebook.printable("a\x1b]0;owned\x07b\x9b31m\x7f\r\n\u202e\udcff")
    assert shown == "a\\x1b]0;owned\\x07b\\x9b31m\\x7f\\r\\n\\u202e\\udcff"
    assert gradebook.printable("élève/lab.ipynb") == "élève/lab.ipynb"


def test_two_names_that_once_shared_a_file_or_a_login_each_keep_their_own(tmp_path):
    names = ["alice/lab.ipynb", "alice__lab.ipynb", "bob/lab.ipynb", "bob.ipynb"]
    stems = submissions.unique_stems(names)
    results = [gradebook.Result(name, remark=f"the work of {name}", stem=stems[name]) for name in names]
    gradebook.write_all(results, tmp_path / "given")
    gradebook.write_all([gradebook.Result(name, remark=f"the work of {name}") for name in names], tmp_path / "none")
    for out in (tmp_path / "given", tmp_path / "none"):
        feedback = sorted((out / "feedback").glob("*.md"))
        assert len(feedback) == len(names)
        owners = sorted(path.read_text(encoding="utf-8").split("\n")[0] for path in feedback)
        assert owners == sorted(f"# {gradebook.escaped(name)}: 0/{rubric.MAX_POINTS}" for name in names)
        with open(out / "lms.csv", newline="", encoding="utf-8") as lms:
            rows = list(csv.DictReader(lms))
        bobs = [row for row in rows if row["login"] == "bob"]
        assert len(bobs) == 2 and all(row["feedback"].startswith("duplicate login: 2 submissions") for row in bobs)
        alices = [row for row in rows if row["login"] != "bob"]
        assert len(alices) == 2 and not [row for row in alices if "duplicate" in row["feedback"]]
    assert stems["alice__lab.ipynb"] == "alice__lab" and stems["bob.ipynb"] == "bob"
