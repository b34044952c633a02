"""Safe Markdown rendering for lesson prose and exercise text.

Raw HTML in a lesson is escaped (never passed through) and the result is cleaned again with nh3,
so a lesson file can never inject script into a learner's page.

Two engines give the same CommonMark-plus-tables output: markdown-it-py, always available, and
markdown-it-pyrs (the Rust port of the same parser), used when installed because it is about
fifteen times faster and large courses must load in well under two seconds. Set
``LEARNLOOP_MARKDOWN_ENGINE=python`` to force the pure-Python engine; a test checks that both
engines render the bundled courses identically.
"""

from __future__ import annotations

import copy
import html
import os
import re
from collections.abc import Callable
from typing import Any

import nh3
from markdown_it import MarkdownIt

from learnloop.content import maths
from learnloop.content.maths import MATHML_ATTRIBUTES, MATHML_TAGS

# One shared parser per engine: building one costs far more than parsing a lesson.
MD = MarkdownIt("commonmark", {"html": False}).enable("table")

# The CommonMark rules minus raw HTML, so that HTML in a lesson is shown as text.
_PYRS_RULES = [
    "blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph",
    "reference", "autolink", "backticks", "emphasis", "entity", "escape", "image", "link",
    "newline", "table",
]  # fmt: skip


def _python_engine(markdown: str) -> str:
    return str(MD.render(markdown))


def _load_engines() -> dict[str, Callable[[str], str]]:
    engines: dict[str, Callable[[str], str]] = {"python": _python_engine}
    try:
        import markdown_it_pyrs
    except ImportError:
        return engines
    rules: list[Any] = list(_PYRS_RULES)  # the stub wants literals; these are the real names
    engines["rust"] = markdown_it_pyrs.MarkdownIt("zero").enable_many(rules).render
    return engines


ENGINES = _load_engines()


def _pick_engine() -> tuple[str, Callable[[str], str]]:
    wanted = os.environ.get("LEARNLOOP_MARKDOWN_ENGINE", "").lower()
    name = wanted if wanted in ENGINES else ("rust" if "rust" in ENGINES else "python")
    return name, ENGINES[name]


ENGINE_NAME, _render_markdown = _pick_engine()

_ALLOWED_ATTRIBUTES: dict[str, set[str]] = copy.deepcopy(nh3.ALLOWED_ATTRIBUTES)
# Fenced code carries its language as a class; keep it for syntax highlighting.
_ALLOWED_ATTRIBUTES.setdefault("code", set()).add("class")
_ALLOWED_ATTRIBUTES.setdefault("th", set()).add("style")
_ALLOWED_ATTRIBUTES.setdefault("td", set()).add("style")
_ALLOWED_TAGS: set[str] = set(nh3.ALLOWED_TAGS) | MATHML_TAGS
for _tag, _names in MATHML_ATTRIBUTES.items():
    _ALLOWED_ATTRIBUTES.setdefault(_tag, set()).update(_names)


# A prepared cleaner skips rebuilding the allow-lists on every call (most of the cost of
# cleaning a short fragment).
_CLEANER = nh3.Cleaner(tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES)


def sanitise(markup: str) -> str:
    return str(_CLEANER.clean(markup))


def render(markdown: str) -> str:
    """Render Markdown (a prose chunk, a prompt, feedback) to safe HTML."""
    # Code blocks scroll sideways on narrow screens: keyboard users must be able to focus them
    # (axe `scrollable-region-focusable`). Added after cleaning, so authors cannot add others.
    return sanitise(_render_markdown(markdown)).replace("<pre>", '<pre tabindex="0">')


def render_with_maths(markdown: str) -> tuple[str, list[str]]:
    """Render Markdown with `$...$` maths as MathML; also every problem with the maths."""
    if not maths.has_maths(markdown):
        return render(markdown), []
    text, formulas, problems = maths.extract(markdown)
    # MathML goes in before cleaning, so it passes the same sanitiser as everything else.
    return sanitise(maths.restore(_render_markdown(text), formulas)), problems


_INLINE_SYNTAX = re.compile(r"[`*_\[\]<>&\\!]")


def inline_text(markdown: str) -> str:
    """The plain text of one line of Markdown, such as a heading."""
    if not _INLINE_SYNTAX.search(markdown):
        return markdown.strip()  # nothing to render: the common case for headings
    return html_to_text(render_inline(markdown))


def render_inline(markdown: str) -> str:
    """Render one line of Markdown without the surrounding paragraph."""
    rendered = render(markdown).strip()
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        return rendered[3:-4]
    return rendered


_BREAK = re.compile(r"<br\s*/?>")
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(markup: str) -> str:
    """The readable words of rendered HTML, paragraphs separated by blank lines."""
    text = html.unescape(_TAG.sub("", _BREAK.sub(" ", markup)))
    return _BLANK_LINES.sub("\n\n", text).strip()


_SLUG_DROP = re.compile(r"[^\w\s-]", re.UNICODE)
_SLUG_GAPS = re.compile(r"[\s_-]+")


def slugify(text: str) -> str:
    slug = _SLUG_DROP.sub("", text.strip().lower())
    return _SLUG_GAPS.sub("-", slug).strip("-") or "section"
