"""Build the compiled part of optex: the matching engine, from its own Python source.

Cython compiles the engine's hot modules (``src/optex/market/_*.py``) as they are; the ``.pxd``
file beside each one declares the orders, levels, books and the engine as C structs with typed
methods, so the matching loop runs without dictionary or descriptor lookups. The ``.py`` files
stay the single source of the logic: ruff, mypy and the differential tests read them, and the
test suite runs them as plain Python too, to check that both give the same events.

Each build also writes ``_build.py`` beside them: the SHA-256 of every compiled module's source.
``optex.market`` refuses to import an extension built from other source than the ``.py`` file
next to it (after a ``git pull``, say), which would otherwise run old code without a word.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from Cython.Build import cythonize
from setuptools import setup

MARKET = Path("src/optex/market")
COMPILED = ("_book", "_lifecycle", "_mmp", "_checks", "_base", "_matching", "_orders", "_quotes")
COMPILED += ("_engine",)


def _freshness() -> ModuleType:
    """optex.market._freshness, loaded from its file (the package is not importable while it is
    being built): its ``source_digest`` is the one the import check compares with."""
    spec = importlib.util.spec_from_file_location("_optex_freshness", MARKET / "_freshness.py")
    assert spec is not None and spec.loader is not None  # noqa: S101 - the file is in the tree
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


source_digest = _freshness().source_digest

(MARKET / "_build.py").write_text(
    '"""Written by setup.py: the source each compiled module was built from."""\n\n'
    "SOURCES = {\n"
    + "".join(f'    "{name}": "{source_digest(MARKET, name)}",\n' for name in COMPILED)
    + "}\n"
)

setup(
    ext_modules=cythonize(
        [str(MARKET / f"{name}.py") for name in COMPILED],
        nthreads=2,
        compiler_directives={
            "language_level": 3,
            # Types come from the .pxd files only: an annotation such as ``int`` must keep
            # meaning "any Python int" (hostile input is refused by the checks, not by a C cast).
            "annotation_typing": False,
        },
    ),
)
