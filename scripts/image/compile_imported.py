"""Import every learnloop module from an image's site-packages, and byte-compile some of them.

    python -S scripts/image/compile_imported.py SITE_DIR IMAGE_SITE_DIR \
        [--compile PACKAGE ...] [--import MODULE ...]

Imports every module of the ``learnloop`` package (and each --import MODULE) from SITE_DIR, so
a module that cannot import with the image's dependencies is reported at build time. Then it
writes a .pyc for each imported module of the --compile packages (default: learnloop).

Third-party packages keep only their sources: their .pyc files would add 5.7 MB to the
compressed web image (its limit is 40 MB). The image sets PYTHONPYCACHEPREFIX=/tmp/pycache, so
a pod compiles them once into its /tmp (an emptyDir): about 1.5 s more on its first start.
Every .pyc written here is an unchecked-hash pyc (no timestamps) whose recorded path is the one
inside the image, so identical inputs give identical bytes.
"""

from __future__ import annotations

import argparse
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


def compile_loaded(site_dir: Path, image_site_dir: str, packages: list[str]) -> int:
    count = 0
    loaded = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    files = sorted({Path(name).resolve() for name in loaded if name and name.endswith(".py")})
    for source in files:
        if not source.is_relative_to(site_dir):
            continue
        relative = source.relative_to(site_dir).as_posix()
        if relative.split("/", 1)[0] not in packages:
            continue
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("site_dir", type=Path)
    parser.add_argument("image_site_dir")
    parser.add_argument("--compile", nargs="*", default=["learnloop"], dest="packages")
    parser.add_argument("--import", nargs="*", default=[], dest="modules")
    args = parser.parse_args(argv[1:])
    site_dir: Path = args.site_dir.resolve()
    site.addsitedir(str(site_dir))
    sys.path.remove(str(site_dir))
    sys.path.insert(0, str(site_dir))
    failures = import_everything(args.modules)
    for failure in failures:
        sys.stderr.write(f"compile_imported: could not import {failure}\n")
    count = compile_loaded(site_dir, args.image_site_dir.rstrip("/"), args.packages)
    sys.stdout.write(f"compile_imported: {count} modules compiled\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
