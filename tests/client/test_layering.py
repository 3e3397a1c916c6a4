"""optex.client is what users install: it stands on optex.core and optex.crypto only."""

from __future__ import annotations

import json
import subprocess
import sys

ALLOWED = ("optex.core", "optex.crypto", "optex.client")


def test_importing_the_client_loads_no_other_optex_package() -> None:
    probe = (
        "import json, sys, optex.client; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('optex.'))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    )
    loaded = json.loads(run.stdout)
    assert any(m.startswith("optex.client") for m in loaded)
    assert [m for m in loaded if not m.startswith(ALLOWED)] == []
