"""The Markdown tables of the reports."""

from clickkit.tables import markdown_table


def test_numbers_are_formatted_and_aligned_right_text_left():
    table = markdown_table(["name", "events/s", "p99 ms"], [["naive", 1234.56, 7.25], ["batch", 98765, ""]])
    assert table.splitlines() == [
        "| name | events/s | p99 ms |",
        "|---|---:|---:|",
        "| naive | 1,235 | 7.2 |",
        "| batch | 98,765 |  |",
    ]


def test_a_pipe_or_a_newline_in_a_cell_cannot_break_the_row():
    row = markdown_table(["note"], [["a | b\nc"]]).splitlines()[-1]
    assert row == "| a \\| b c |"
