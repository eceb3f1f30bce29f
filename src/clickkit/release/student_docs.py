"""The student's copy of a page of docs the kits share: without the parts about the instructor's kit alone.

In the page, a line that is `<!-- instructor-only -->` opens such a part and `<!-- /instructor-only -->` closes
it; any other line that ends with `<!-- instructor-only -->` (a table row) is such a part by itself.
"""

import re

from clickkit.errors import KitError

MARK, CLOSE = "<!-- instructor-only -->", "<!-- /instructor-only -->"


def for_students(text: str, where: str) -> str:
    """Return the page without its instructor-only parts."""
    kept, inside = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped == MARK:
            if inside:
                raise KitError(f"{where}, line {number}: {MARK} inside another: close the first with {CLOSE}.")
            inside = True
        elif stripped == CLOSE:
            if not inside:
                raise KitError(f"{where}, line {number}: {CLOSE} without a {MARK} above it.")
            inside = False
        elif not inside and not stripped.endswith(MARK):
            kept.append(line)
    if inside:
        raise KitError(f"{where}: {MARK} is never closed: add {CLOSE} after the instructor's part.")
    # A part left out between two paragraphs leaves their blank lines behind: keep one.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n") + "\n"
