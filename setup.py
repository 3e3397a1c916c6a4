"""Build the compiled part of optex: the matching engine, from its own Python source.

Cython compiles the engine's hot modules (``src/optex/market/_*.py``) as they are; the ``.pxd``
file beside each one declares the orders, levels, books and the engine as C structs with typed
methods, so the matching loop runs without dictionary or descriptor lookups. The ``.py`` files
stay the single source of the logic (ruff, mypy and the differential tests read them), and run
unchanged wherever the extension is not built.
"""

from Cython.Build import cythonize
from setuptools import setup

COMPILED = ("_book", "_lifecycle", "_mmp", "_checks", "_base", "_matching", "_orders", "_quotes")
COMPILED += ("_engine",)

setup(
    ext_modules=cythonize(
        [f"src/optex/market/{name}.py" for name in COMPILED],
        nthreads=2,
        compiler_directives={
            "language_level": 3,
            # Types come from the .pxd files only: an annotation such as ``int`` must keep
            # meaning "any Python int" (hostile input is refused by the checks, not by a C cast).
            "annotation_typing": False,
        },
    ),
)
