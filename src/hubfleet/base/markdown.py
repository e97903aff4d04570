"""Text that leaves for GitHub (PR comments, step summaries, issue bodies) as inert Markdown.

Every string derived from fleet files or handoff files (hub and cluster names,
reasons, file paths, error messages) goes through one of these before it is put
into Markdown, so that it shows as the text it is and nothing more:

- `md_text(s)`: inline text (a paragraph, a list item, a heading, a table cell).
  HTML, links and images, emphasis (`*`, `~`, `_` outside a word), code spans and
  table pipes become character references; `@user` and `#123` get a zero-width
  space after their first character (GitHub notifies and links neither); `://`
  and `www.` likewise (no autolink); line breaks become spaces.
- `md_cell(s)`: `md_text` for a table cell (the same: pipes never split a cell).
- `md_code(s)`: an inline code span whatever backticks `s` holds; `in_table`
  escapes the pipes a table row would split on (GitHub removes the backslash).

Control, format (zero-width, bidi overrides such as U+202E), line-separator and
surrogate characters are shown as `\\uXXXX`, never passed on: a right-to-left
override cannot reorder what a reviewer reads, and a lone surrogate cannot break
the writer. Scrub secrets before escaping: an escaped secret no longer matches
the redactor's patterns.
"""

from __future__ import annotations

import re
import unicodedata

ZWSP = "&#8203;"  # a zero-width space as a character reference

# Characters replaced by a character reference wherever they are (in this order:
# `&` first, so that the references made here are not escaped again).
_REFERENCES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "[": "&#91;",
    "]": "&#93;",
    "\\": "&#92;",
    "|": "&#124;",
    "`": "&#96;",
    "*": "&#42;",
    "~": "&#126;",
    '"': "&quot;",
}
# `_` only where it could open or close emphasis: not inside a word (`a_b`, a path).
_REFERENCE_RE = re.compile(
    "|".join(re.escape(c) for c in _REFERENCES) + r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"
)
# What GitHub turns into a notification, a reference or a link: broken after the
# first character by a zero-width space.
_LINKING_RE = re.compile(r"([@#])(?=[\w-])|(?<=\bGH)(-)(?=\d)|(:)(?=//)|(?<=\bwww)(\.)", re.I)
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Co"})
_LINE_BREAK_RE = re.compile(r"\r\n|[\r\n\t]")


def visible(text: str) -> str:
    """`text` with line breaks and tabs as spaces and every control, format, separator,
    surrogate or private-use character as a visible `\\uXXXX` (plain, not yet escaped)."""
    text = _LINE_BREAK_RE.sub(" ", text)
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in _INVISIBLE_CATEGORIES else c for c in text
    )


def _break(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group) + "\u200b"


def md_text(text: object) -> str:
    """`text` (made a string) as inert inline Markdown: it renders as itself."""
    # `visible` left no U+200B: each one now is a break made here, a reference below.
    broken = _LINKING_RE.sub(_break, visible(str(text)))
    escaped = _REFERENCE_RE.sub(lambda m: _REFERENCES.get(m.group(0), "&#95;"), broken)
    return escaped.replace("\u200b", ZWSP)


def md_cell(text: object) -> str:
    """`text` as one table cell's content (pipes and line breaks cannot end the cell)."""
    return md_text(text)


def md_code(text: object, *, in_table: bool = False) -> str:
    """`text` as one inline code span (literal inside: no HTML, link or mention)."""
    content = visible(str(text))
    if in_table:
        content = content.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    if content.startswith(("`", " ")) or content.endswith(("`", " ")) or not content:
        content = f" {content} "
    return f"{fence}{content}{fence}"
