"""MkDocs hook: LaTeX math in the Markdown pages becomes MathML when the site is built.

`$$ … $$` (a paragraph of its own) is display math, `\\( … \\)` inline math. Browsers draw
MathML themselves (MathML Core), so the site needs no JavaScript and no CDN, and renders
offline. Fenced code blocks and inline code are left alone.
"""

from __future__ import annotations

import re

from latex2mathml.converter import convert

FENCE = re.compile(r"(```.*?```)", re.S)
INLINE_CODE = re.compile(r"(`[^`\n]*`)")
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE = re.compile(r"\\\((.+?)\\\)")


def to_mathml(text: str) -> str:
    def display(match: re.Match[str]) -> str:
        return convert(match.group(1).strip(), display="block")

    def inline(match: re.Match[str]) -> str:
        # in a span: Markdown takes a line that starts with <math> for a block of raw HTML
        return f'<span class="math">{convert(match.group(1).strip())}</span>'

    pieces = INLINE_CODE.split(text)
    for index in range(0, len(pieces), 2):  # odd pieces are inline code
        pieces[index] = INLINE.sub(inline, DISPLAY.sub(display, pieces[index]))
    return "".join(pieces)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    parts = FENCE.split(markdown)
    for index in range(0, len(parts), 2):  # odd parts are fenced code
        parts[index] = to_mathml(parts[index])
    return "".join(parts)
