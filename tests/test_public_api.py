"""Every optex package declares its public names: a docstring and a sorted, complete __all__."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import optex


def _packages() -> list[str]:
    names = ["optex"]
    for info in pkgutil.walk_packages(optex.__path__, prefix="optex."):
        last = info.name.rsplit(".", 1)[-1]
        if info.ispkg and not last.startswith("_"):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _packages())
def test_package_has_a_docstring_and_a_sorted_all_that_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip(), f"{name} has no docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
