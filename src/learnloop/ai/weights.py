"""Shipped weights, checked by digest at load.

Every file of weights the grader ships (`learnloop/grading/*.safetensors`, `*.json` models)
has a `<name>.sha256` beside it, written by `learnloop train-grader` with the file. A loader
reads the bytes through `verified_bytes`, which refuses a file that is not the one its digest
names: a corrupted copy, or a file edited or retrained without its digest.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import PurePath


class WeightsDigestError(RuntimeError):
    """A weights file does not match its recorded sha256: retrain it or restore it."""


def digest_name(file_name: str) -> str:
    return str(PurePath(file_name).with_suffix(".sha256"))


def verified_bytes(package: str, file_name: str) -> bytes:
    folder = resources.files(package)
    data = folder.joinpath(file_name).read_bytes()
    recorded = folder.joinpath(digest_name(file_name)).read_text().split()[0]
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        raise WeightsDigestError(
            f"{package}/{file_name}: sha256 {actual[:12]}… does not match the recorded "
            f"{recorded[:12]}… in {digest_name(file_name)}; run `learnloop train-grader` "
            "or restore the file"
        )
    return data
