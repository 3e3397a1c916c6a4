"""Every third-party module optex imports at run time is a runtime dependency.

CI installs ``.[test]``, so a module imported by ``src/optex`` but declared only among the test
extras passes every test and still breaks the README's first command (``pip install -e .`` then
``optex devnet``). This reads the imports of every source file and checks them against the
``Requires-Dist`` entries that carry no extra.
"""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

SOURCE = Path(__file__).resolve().parents[1] / "src" / "optex"
# Needed only to build the package (setup.py), never imported by src/optex.
BUILD_ONLY = {"Cython", "setuptools"}


def imported_top_level_modules() -> dict[str, Path]:
    """Each top-level module imported anywhere in src/optex, with one file that imports it."""
    found: dict[str, Path] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path)
    return found


def runtime_distributions() -> set[str]:
    """The distributions optex requires without any extra, normalised."""
    wanted = set()
    for line in requires("optex") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            wanted.add(requirement.name.lower().replace("_", "-"))
    return wanted


def test_every_third_party_import_is_a_runtime_dependency() -> None:
    runtime = runtime_distributions()
    providers = packages_distributions()
    missing = []
    for module, where in imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in ("optex", "__future__"):
            continue
        distributions = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if not distributions:
            pytest.fail(f"{where} imports {module}, which no installed distribution provides")
        if not distributions & runtime:
            missing.append(f"{module} ({where.relative_to(SOURCE.parent)})")
    assert not missing, f"imported at run time but not in [project] dependencies: {missing}"
