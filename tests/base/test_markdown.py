"""The one Markdown escaper (`hubfleet.base.markdown`): hostile text renders as itself."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from hubfleet.base.markdown import md_cell, md_code, md_text, visible

RENDER = MarkdownIt("commonmark", {"html": True}).enable("table")

CORPUS = [
    "<img src=x onerror=alert(1)>",
    "<details><summary>open me</summary>",
    "<!-- hubfleet-plan --> hidden",
    "[x](javascript:alert(1))",
    "![](http://attacker.invalid/track.png)",
    "[ref]: http://attacker.invalid",
    "<http://attacker.invalid>",
    "@octocat please look",
    "fixes #123 and GH-45",
    "see http://attacker.invalid and www.attacker.invalid",
    "a | b | c",
    "line one\nline two\r\n# heading",
    "`code` and ``more``",
    "**bold** _it_ ~~gone~~",
    "&lt;img&gt; &#60;img&#62;",
    "\\<img src=x>",
    "right\u202eto left\u2066x\u2069 zero\u200bwidth \ufeffbom",
    "\x00nul \x1b[31mred",
    "\ud800 lone surrogate",
]


def _paragraph(text: str) -> str:
    html = RENDER.render(text)
    assert html.startswith("<p>") and html.count("<p>") == 1, html
    return html


@pytest.mark.parametrize("hostile", CORPUS)
def test_md_text_is_inert(hostile: str) -> None:
    escaped = md_text(hostile)
    html = _paragraph(escaped)
    for live in ("<img", "<details", "<a ", "<!--", "<em>", "<strong>", "<code>", "<h1", "<del"):
        assert live not in html, (hostile, html)
    text = html.replace("&#8203;", "\u200b")
    assert not re.search(r"(?<!\w)@\w", text)
    assert not re.search(r"#\d", text) and not re.search(r"GH-\d", text)
    assert "http://" not in text and not re.search(r"www\.\w", text)
    assert "\n" not in escaped and "](" not in escaped
    escaped.encode("utf-8")  # no lone surrogate left to break a writer


def test_md_text_shows_the_text_itself() -> None:
    html = RENDER.render(md_text("<b>x</b> [a](b) 5 * 3 a_b c|d"))
    assert html == "<p>&lt;b&gt;x&lt;/b&gt; [a](b) 5 * 3 a_b c|d</p>\n"
    assert md_text("config/clusters/alpha/prod1.values.yaml") == (
        "config/clusters/alpha/prod1.values.yaml"
    )  # plain paths stay readable in the raw Markdown


def test_invisible_characters_are_made_visible() -> None:
    assert visible("a\u202eb\u200bc\x00d\te\nf") == "a\\u202eb\\u200bc\\u0000d e f"
    assert RENDER.render(md_text("a\u202eb")) == "<p>a\\u202eb</p>\n"


@pytest.mark.parametrize("hostile", CORPUS)
def test_md_cell_keeps_the_table_row(hostile: str) -> None:
    table = f"| a | b |\n|---|---|\n| {md_cell(hostile)} | end |\n"
    html = RENDER.render(table)
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    assert len(rows) == 2
    assert rows[1].count("<td>") == 2 and "<td>end</td>" in rows[1], html


@pytest.mark.parametrize(
    "content", ["plain", "a`b", "``x``", "`", " lead", "a|b", "<img src=x>", "@octocat", ""]
)
def test_md_code_is_one_code_span_of_the_content(content: str) -> None:
    html = RENDER.render(md_code(content))
    expected = content.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert html == f"<p><code>{expected}</code></p>\n" or (not content.strip()), html
    cell = RENDER.render(f"| a |\n|---|\n| {md_code(content, in_table=True)} |\n")
    assert cell.count("<td>") == 1


def test_one_escaper_in_src() -> None:
    """Markdown table cells have one definition (issue 22): no pipe-escaping elsewhere."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "hubfleet"
    found = [
        str(path.relative_to(src))
        for path in sorted(src.rglob("*.py"))
        if 'replace("|"' in path.read_text(encoding="utf-8")
    ]
    assert found == ["base/markdown.py"]
