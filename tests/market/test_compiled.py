"""The shipped engine is the compiled one, and it behaves exactly as its Python source.

``setup.py`` compiles optex.market's hot modules with Cython, typed by the ``.pxd`` files beside
them. These tests check that the installed package really runs those extensions (a stale or
missing build would silently fall back to Python, or to old code), and that the compiled engine
gives, event for event and hash for hash, what the same ``.py`` files give when run as plain
Python in another process.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from optex.market import AmendOrder, NewOrder
from optex.market._freshness import stale_modules
from optex.market._orders import AMEND_ORDER_FIELDS, NEW_ORDER_FIELDS
from tests.market.replay import replay, replay_elsewhere, seeded_stream

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "optex"
COMPILED = (
    "_book",
    "_lifecycle",
    "_mmp",
    "_checks",
    "_base",
    "_matching",
    "_orders",
    "_quotes",
    "_engine",
)


def test_orders_and_amendments_are_unpacked_in_their_field_order() -> None:
    assert NewOrder.__struct_fields__ == NEW_ORDER_FIELDS
    assert AmendOrder.__struct_fields__ == AMEND_ORDER_FIELDS


def test_the_build_compiled_the_modules_listed_here() -> None:
    assert tuple(importlib.import_module("optex.market._build").SOURCES) == COMPILED


@pytest.mark.parametrize("name", COMPILED)
def test_the_engine_module_runs_compiled_from_its_current_source(name: str) -> None:
    module = importlib.import_module(f"optex.market.{name}")
    assert Path(module.__file__ or "").name.endswith(tuple(EXTENSION_SUFFIXES)), (
        f"optex.market.{name} runs as plain Python: build it with `pip install -e .`"
    )
    assert name not in stale_modules()


def test_an_extension_older_than_its_source_is_refused_at_import(tmp_path: Path) -> None:
    shutil.copytree(SOURCE, tmp_path / "optex", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    probe = [sys.executable, "-c", "import optex.market"]
    subprocess.run(probe, cwd=tmp_path, env=env, timeout=60, check=True)
    lifecycle = tmp_path / "optex" / "market" / "_lifecycle.py"
    lifecycle.write_text(lifecycle.read_text() + "\n# edited after the build\n")
    result = subprocess.run(
        probe, cwd=tmp_path, env=env, timeout=60, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "_lifecycle compiled from other source" in result.stderr
    assert "pip install -e ." in result.stderr


def test_the_compiled_engine_gives_what_its_python_source_gives(tmp_path: Path) -> None:
    commands = seeded_stream(77, 3_000)
    engine, events = replay(commands)
    # The same source without the extensions: a copy of the package holding only .py files.
    shutil.copytree(
        SOURCE,
        tmp_path / "optex",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "_build.py", "__pycache__"),
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    probe = (
        "import optex.market._matching as m, sys; sys.exit(0 if m.__file__.endswith('.py') else 3)"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, timeout=60, check=True)
    assert replay_elsewhere(77, 3_000, tmp_path, env) == [events, engine.state_hash().hex()]
