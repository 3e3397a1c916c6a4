"""The README's two commands are the ones CI runs, and they start as a newcomer expects."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_the_readme_opens_with_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) >= 2
    assert commands[0].startswith("python3 -m venv .venv")
    assert commands[0].rsplit("&&", 1)[-1].strip() == ".venv/bin/optex devnet"
    assert commands[1].endswith(".venv/bin/pytest")


def test_ci_runs_the_readmes_test_command_word_for_word() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_ci_runs_each_check_as_its_own_statement() -> None:
    # Under `set -e`, a failing command inside `a && b` does not stop the script: a chained
    # linter could fail while CI still passes.
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        if any(tool in line for tool in ("ruff ", "mypy", "bandit")):
            assert "&&" not in line, f"chained check in .ci/run: {line}"
