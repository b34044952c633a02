"""Images and other files from the course folder, served under a content-hash URL.

A Markdown image with a relative path (`![A pendulum](img/pendulum.svg)`) is resolved against
the lesson's folder; `check` fails when the file is missing, outside the course, of a type we
do not serve, or when the alt text is empty. The page links to
`/courses/<slug>/assets/<digest>/<name>`, which can be cached for a year: a changed file has a
new digest.
"""

from __future__ import annotations

import hashlib
import html
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
MAX_ASSET_BYTES = 5 * 1024 * 1024

_IMG = re.compile(r"<img\b[^>]*>")
_ATTRIBUTE = re.compile(r'\s(src|alt)="([^"]*)"')


@dataclass(frozen=True)
class Asset:
    path: str  # relative to the course folder
    digest: str
    data: bytes
    media_type: str

    @property
    def filename(self) -> str:
        return posixpath.basename(self.path)


def is_asset_name(name: str) -> bool:
    return posixpath.splitext(name.lower())[1] in MEDIA_TYPES


def make_asset(path: str, data: bytes) -> Asset:
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Asset(path, digest, data, MEDIA_TYPES[posixpath.splitext(path.lower())[1]])


def asset_url(slug: str, asset: Asset) -> str:
    return f"/courses/{quote(slug)}/assets/{asset.digest}/{quote(asset.filename)}"


def link_assets(
    markup: str, lesson_path: str, slug: str, files: dict[str, bytes], used: dict[str, Asset]
) -> tuple[str, list[str]]:
    """Point relative images at their asset URLs; also the problems found on the way."""
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        tag = match.group(0)
        attributes = dict(_ATTRIBUTE.findall(tag))
        src = html.unescape(attributes.get("src", ""))
        if not attributes.get("alt", "").strip():
            problems.append(f"image '{src}' needs alt text: ![what it shows]({src})")
        if not src or re.match(r"^([a-z][a-z0-9+.-]*:|/)", src, re.I):
            return tag  # absolute URLs are the author's business
        path = posixpath.normpath(posixpath.join(posixpath.dirname(lesson_path), unquote(src)))
        if path.startswith("../") or path == "..":
            problems.append(f"image '{src}' is outside the course folder")
            return tag
        if not is_asset_name(path):
            kinds = ", ".join(sorted(MEDIA_TYPES))
            problems.append(f"image '{src}' must be one of {kinds}")
            return tag
        data = files.get(path)
        if data is None:
            problems.append(f"image file '{src}' does not exist (looked for {path})")
            return tag
        if len(data) > MAX_ASSET_BYTES:
            problems.append(f"image '{src}' is larger than 5 MB")
            return tag
        asset = used.get(path) or make_asset(path, data)
        used[path] = asset
        return tag.replace(
            f'src="{attributes["src"]}"', f'src="{html.escape(asset_url(slug, asset))}"'
        )

    if "<img" not in markup:
        return markup, []
    return _IMG.sub(replace, markup), problems
