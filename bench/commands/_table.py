"""The one plain-text table printer of the command line (``losses``, ``datasets show``)."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]], *,
               left: Sequence[int] | None = None, rule: bool = False) -> list[str]:
    """Lines of a table whose columns are as wide as their widest cell, two spaces apart.

    Columns in ``left`` (all when None) are left-aligned, the others right-aligned; ``rule``
    puts a line of dashes under the header.
    """
    cells = [[str(c) for c in header], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lefts = set(range(len(header))) if left is None else set(left)
    line = "  ".join(f"{{:<{w}}}" if i in lefts else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [line.format(*cells[0])]
    if rule:
        out.append("  ".join("-" * w for w in widths))
    return out + [line.format(*row) for row in cells[1:]]
