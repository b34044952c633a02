"""`$...$` and `$$...$$` in lesson prose, rendered on the server to MathML (latex2mathml).

No JavaScript and nothing from a CDN: browsers draw MathML natively. Maths inside code is
left alone, and `\\$` is a dollar sign. An inline formula may not start or end with a space, so
"costs $5 and $10" stays prose.
"""

from __future__ import annotations

import re

from latex2mathml.converter import convert

MATHML_TAGS = frozenset(
    [
        "math",
        "mi",
        "mn",
        "mo",
        "ms",
        "mtext",
        "mspace",
        "mrow",
        "mfrac",
        "msqrt",
        "mroot",
        "mstyle",
        "merror",
        "mpadded",
        "mphantom",
        "mfenced",
        "menclose",
        "msub",
        "msup",
        "msubsup",
        "munder",
        "mover",
        "munderover",
        "mmultiscripts",
        "mprescripts",
        "none",
        "mtable",
        "mtr",
        "mtd",
        "maligngroup",
        "malignmark",
        "semantics",
        "annotation",
    ]
)
MATHML_ATTRIBUTES: dict[str, set[str]] = {
    "math": {"xmlns", "display"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace", "movablelimits", "form"},
    "mstyle": {"displaystyle", "scriptlevel", "mathvariant"},
    "mi": {"mathvariant"},
    "mspace": {"width"},
    "mfrac": {"linethickness"},
    "mtable": {"columnalign", "rowspacing", "columnspacing"},
    "mtd": {"columnalign"},
    "menclose": {"notation"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
}

# Code (fenced or inline) is skipped; then display maths, then inline maths.
_CODE = re.compile(r"(^ {0,3}(`{3,}|~{3,})[\s\S]*?^ {0,3}\2[ \t]*$|`+[^`\n]*`+)", re.M)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$\w])\$(?=\S)([^$\n]*?\S)\$(?![\w$])")
_UNKNOWN_COMMAND = re.compile(r"<mi>(\\[A-Za-z]+)</mi>")
PLACEHOLDER = "LLMATHX{}X"
_PLACEHOLDER = re.compile(r"LLMATHX(\d+)X")


def has_maths(markdown: str) -> bool:
    return "$" in markdown


def extract(markdown: str) -> tuple[str, list[str], list[str]]:
    """(Markdown with placeholders, MathML per placeholder, problems with the LaTeX)."""
    formulas: list[str] = []
    problems: list[str] = []

    def to_mathml(latex: str, display: str) -> str:
        try:
            mathml = str(convert(latex.strip(), display=display))
        except Exception as error:  # latex2mathml raises many kinds
            problems.append(f"cannot read the maths '{latex.strip()}' ({type(error).__name__})")
            return ""
        unknown = _UNKNOWN_COMMAND.search(mathml)
        if unknown:
            problems.append(f"unknown LaTeX command '{unknown.group(1)}' in '{latex.strip()}'")
        formulas.append(mathml)
        return PLACEHOLDER.format(len(formulas) - 1)

    def outside_code(text: str) -> str:
        text = _DISPLAY.sub(lambda m: to_mathml(m.group(1), "block"), text)
        return _INLINE.sub(lambda m: to_mathml(m.group(1), "inline"), text)

    pieces: list[str] = []
    last = 0
    for match in _CODE.finditer(markdown):
        pieces.append(outside_code(markdown[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(outside_code(markdown[last:]))
    return "".join(pieces).replace("\\$", "$"), formulas, problems


def restore(html: str, formulas: list[str]) -> str:
    return _PLACEHOLDER.sub(lambda m: formulas[int(m.group(1))], html)
