"""Write the Markdown tables of the kit's reports: the benchmark, reliability and the gradebook."""


def cell(value) -> str:
    """Format one cell: whole numbers above 100 with separators, one decimal below, text as it is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")  # either would break the table's row


def markdown_table(header, rows) -> str:
    """Return a Markdown table; a column whose cells are all numbers is aligned right."""
    rows = [list(row) for row in rows]

    def numeric(column: int) -> bool:
        values = [row[column] for row in rows if row[column] != ""]
        return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    rule = ["---:" if numeric(index) else "---" for index in range(len(header))]
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)
