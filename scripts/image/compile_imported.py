"""Byte-compile the modules learnloop imports, for an image whose root is read-only.

    python -S scripts/image/compile_imported.py SITE_DIR IMAGE_SITE_DIR [MODULE ...]

Imports every module of the ``learnloop`` package (and any extra MODULE given) from SITE_DIR,
then writes a .pyc for each imported module that lives in SITE_DIR. The rest of the
third-party code keeps only its sources: compiling all of it would add 11 MB to the compressed
web image for modules no process loads. Every .pyc is an unchecked-hash pyc (no timestamps)
whose recorded path is the one inside the image, so identical inputs give identical bytes.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import py_compile
import site
import sys
from pathlib import Path

# Migrations run only under `learnloop db upgrade` (Alembic loads them as scripts); __main__
# would run the CLI.
SKIP_PREFIXES = ("learnloop.migrations", "learnloop.__main__")


def import_everything(extra: list[str]) -> list[str]:
    failures: list[str] = []
    package = importlib.import_module("learnloop")
    names = [
        info.name
        for info in pkgutil.walk_packages(package.__path__, prefix="learnloop.")
        if not info.name.startswith(SKIP_PREFIXES)
    ]
    for name in [*sorted(names), *extra]:
        try:
            importlib.import_module(name)
        except Exception as error:  # a module that cannot import is reported, not fatal
            failures.append(f"{name}: {type(error).__name__}: {error}")
    return failures


def compile_loaded(site_dir: Path, image_site_dir: str) -> int:
    count = 0
    loaded = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    files = sorted({Path(name).resolve() for name in loaded if name and name.endswith(".py")})
    for source in files:
        if not source.is_relative_to(site_dir):
            continue
        relative = source.relative_to(site_dir).as_posix()
        py_compile.compile(
            str(source),
            cfile=importlib.util.cache_from_source(str(source)),
            dfile=f"{image_site_dir}/{relative}",
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        count += 1
    return count


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        sys.stderr.write(__doc__ or "")
        return 2
    site_dir = Path(argv[1]).resolve()
    site.addsitedir(str(site_dir))
    sys.path.remove(str(site_dir))
    sys.path.insert(0, str(site_dir))
    failures = import_everything(argv[3:])
    for failure in failures:
        sys.stderr.write(f"compile_imported: could not import {failure}\n")
    count = compile_loaded(site_dir, argv[2].rstrip("/"))
    sys.stdout.write(f"compile_imported: {count} modules compiled\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
