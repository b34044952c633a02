"""Safe Markdown rendering for lesson prose and exercise text.

Raw HTML in a lesson is escaped by markdown-it (``html`` off) and the result is cleaned again
with nh3, so a lesson file can never inject script into a learner's page.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

# One shared parser: building a MarkdownIt instance costs far more than parsing a lesson.
MD = MarkdownIt("commonmark", {"html": False}).enable("table")

_ALLOWED_ATTRIBUTES: dict[str, set[str]] = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
# markdown-it marks fenced code with its language; keep it for syntax highlighting.
_ALLOWED_ATTRIBUTES.setdefault("code", set()).add("class")
_ALLOWED_ATTRIBUTES.setdefault("th", set()).add("style")
_ALLOWED_ATTRIBUTES.setdefault("td", set()).add("style")
_ALLOWED_TAGS: set[str] = set(nh3.ALLOWED_TAGS)


def sanitise(html: str) -> str:
    return str(nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES))


def render_tokens(tokens: Sequence[Token]) -> str:
    return sanitise(MD.renderer.render(list(tokens), MD.options, {}))


def render(markdown: str) -> str:
    """Render a Markdown fragment (a prompt, feedback, an answer) to safe HTML."""
    return sanitise(MD.render(markdown))


def render_inline(markdown: str) -> str:
    """Render one line of Markdown without the surrounding paragraph."""
    return sanitise(MD.renderInline(markdown))


_SLUG_DROP = re.compile(r"[^\w\s-]", re.UNICODE)
_SLUG_GAPS = re.compile(r"[\s_-]+")


def slugify(text: str) -> str:
    slug = _SLUG_DROP.sub("", text.strip().lower())
    return _SLUG_GAPS.sub("-", slug).strip("-") or "section"


def plain_text(tokens: Sequence[Token]) -> str:
    """The readable words of some block tokens, one paragraph per block."""
    parts: list[str] = []
    for token in tokens:
        if token.type == "inline" and token.children:
            words: list[str] = []
            for child in token.children:
                if child.type in ("text", "code_inline"):
                    words.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    words.append(" ")
            parts.append("".join(words))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content.rstrip("\n"))
    return "\n\n".join(part for part in parts if part)
