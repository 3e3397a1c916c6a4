"""Refuse a compiled engine module built from other source than the ``.py`` beside it.

Python loads an extension in preference to the ``.py`` of the same name, so after the source
changes (a ``git pull`` in a development install) an old build would keep running beside new
plain-Python modules: two processes could then replay one journal differently. ``setup.py``
records the SHA-256 of each module's ``.py`` and ``.pxd`` in ``_build.py``; this compares.
"""

from __future__ import annotations

import hashlib
import importlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path


def source_digest(folder: Path, name: str) -> str:
    """The SHA-256 of ``name``'s ``.py`` and ``.pxd`` in ``folder`` (as setup.py computes it)."""
    digest = hashlib.sha256()
    for suffix in (".py", ".pxd"):
        path = folder / f"{name}{suffix}"
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def stale_modules() -> list[str]:
    """The compiled modules whose source changed since they were built (none: all fresh)."""
    folder = Path(__file__).parent
    try:
        built = importlib.import_module("optex.market._build").SOURCES
    except ImportError:
        built = {}
    stale = []
    for path in folder.iterdir():
        if not path.name.endswith(tuple(EXTENSION_SUFFIXES)):
            continue
        name = path.name.split(".", 1)[0]
        if (folder / f"{name}.py").exists() and built.get(name) != source_digest(folder, name):
            stale.append(name)
    return sorted(stale)


def check_build() -> None:
    """Raise ImportError if a compiled module is older than its source."""
    stale = stale_modules()
    if stale:
        raise ImportError(
            f"optex.market: {', '.join(stale)} compiled from other source than the .py files "
            "beside them; rebuild with `pip install -e .`"
        )
