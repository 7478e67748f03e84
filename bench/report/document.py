"""A tiny document model rendered twice: Markdown (figures linked) and one self-contained HTML
file (figures embedded as base64), so the two reports always say the same thing.

Headings get GitHub-style anchors (the same in both renderings), and ``Document.contents()``
places a table of contents of the level-2 and level-3 headings. Inline markup (``**bold**``,
```code```, ``[text](link)``) is rendered in HTML text and stripped where HTML shows plain text
(the ``<title>``, ``alt`` attributes)."""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #555; }
code { background: #f3f3f3; padding: 0 3px; } .verdict { background: #f7f9fc; padding: 0.6em 1em;
       border-left: 4px solid #4c72b0; }
nav.toc { background: #fafafa; border: 1px solid #e3e3e3; padding: 0.4em 1.2em; margin: 1em 0; }
nav.toc ul { margin: 0.2em 0; } nav.toc li { margin: 0.1em 0; }
"""


@dataclass
class Document:
    """An ordered list of blocks: headings, paragraphs, tables, figures and lists."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str, css: str = "") -> None:
        self.blocks.append(("paragraph", text, css))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", items))

    def table(self, frame: pd.DataFrame, csv: str | None = None) -> None:
        """A formatted table; ``csv`` names the file with its numeric twin."""
        self.blocks.append(("table", frame, csv))

    def figure(self, path: Path | None, caption: str) -> None:
        if path is not None:
            self.blocks.append(("figure", Path(path), caption))

    def contents(self) -> None:
        """Here, a table of contents: links to every level-2 and level-3 heading of the
        document (those added later included)."""
        self.blocks.append(("contents",))


def plain(text: str) -> str:
    """``text`` without inline markup: for the HTML ``<title>``, ``alt`` texts and anchors."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"`(.+?)`", r"\1", text)
    return re.sub(r"\[(.+?)\]\((.+?)\)", r"\1", text)


def _inline_html(text: str) -> str:
    """Escape, then render **bold**, `code` and [text](link)."""
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', text)


def _slug(text: str, taken: dict[str, int]) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens; a
    repeated heading gets -1, -2, …"""
    base = re.sub(r"[^\w\- ]", "", plain(text).strip().lower()).replace(" ", "-")
    count = taken.get(base, 0)
    taken[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def anchors(document: Document) -> list[str | None]:
    """The anchor of every block (None for blocks that are not headings), in block order."""
    taken: dict[str, int] = {_slug(document.title, {}): 1}
    return [_slug(b[2], taken) if b[0] == "heading" else None for b in document.blocks]


def _contents(document: Document, ids: list[str | None]) -> list[tuple[int, str, str]]:
    return [(b[1], b[2], anchor) for b, anchor in zip(document.blocks, ids)
            if b[0] == "heading" and b[1] in (2, 3)]


def to_markdown(document: Document, root: Path) -> str:
    """Markdown with figures as relative links under ``root``."""
    lines = [f"# {document.title}", ""]
    ids = anchors(document)
    for block in document.blocks:
        kind = block[0]
        if kind == "heading":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "contents":
            lines += ["**Contents**", ""]
            lines += [f"{'  ' * (level - 2)}- [{plain(text)}](#{anchor})"
                      for level, text, anchor in _contents(document, ids)] + [""]
        elif kind == "paragraph":
            lines += [block[1], ""]
        elif kind == "bullets":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            lines += [block[1].to_markdown(index=False)]
            lines += (["", f"CSV: [`{block[2]}`]({block[2]})"] if block[2] else []) + [""]
        elif kind == "figure":
            relative = Path(os.path.relpath(block[1], root)).as_posix()
            lines += [f"![{plain(block[2])}]({relative})", "", f"*{block[2]}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _contents_html(entries: list[tuple[int, str, str]]) -> str:
    """Nested lists: each level-2 heading with its level-3 headings below it."""
    items: list[tuple[str, list[str]]] = []
    for level, text, anchor in entries:
        link = f'<a href="#{anchor}">{_inline_html(text)}</a>'
        if level == 2 or not items:
            items.append((link, []))
        else:
            items[-1][1].append(link)
    listed = "".join(f"<li>{top}" + ("<ul>" + "".join(f"<li>{s}</li>" for s in subs) + "</ul>"
                                     if subs else "") + "</li>" for top, subs in items)
    return f'<nav class="toc"><strong>Contents</strong><ul>{listed}</ul></nav>'


def to_html(document: Document) -> str:
    """One self-contained HTML page (figures as data: URLs)."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(plain(document.title))}</title><style>{STYLE}</style>",
             "</head><body>", f"<h1>{_inline_html(document.title)}</h1>"]
    ids = anchors(document)
    for block, anchor in zip(document.blocks, ids):
        kind = block[0]
        if kind == "heading":
            parts.append(f'<h{block[1]} id="{anchor}">{_inline_html(block[2])}</h{block[1]}>')
        elif kind == "contents":
            parts.append(_contents_html(_contents(document, ids)))
        elif kind == "paragraph":
            css = f' class="{block[2]}"' if block[2] else ""
            parts.append(f"<p{css}>{_inline_html(block[1])}</p>")
        elif kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1])
                         + "</ul>")
        elif kind == "table":
            parts.append(block[1].to_html(index=False, border=0, escape=True, na_rep=""))
            if block[2]:
                parts.append(f'<p><small>CSV: <a href="{html.escape(block[2])}">'
                             f"{html.escape(block[2])}</a></small></p>")
        elif kind == "figure":
            data = base64.b64encode(block[1].read_bytes()).decode("ascii")
            alt = html.escape(plain(block[2]))
            parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{_inline_html(block[2])}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
