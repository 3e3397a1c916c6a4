"""Child processes of a devnet: started in order, each with a readiness check, stopped cleanly.

Every service runs as its own process (``python -m optex ...`` or ``python -m optex.node``) in
its own process group, so that Ctrl-C in the terminal reaches only the devnet, which then stops
its children in reverse order: SIGTERM, a grace period, SIGKILL. A child that exits while the
devnet runs is reported by :meth:`Supervisor.failed` rather than silently restarted: a devnet
that hides crashes would hide bugs. On Linux each child also asks the kernel for SIGTERM when the
devnet dies (``PR_SET_PDEATHSIG``), so even a SIGKILLed devnet leaves no service behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from optex.core import InvalidInput
from optex.devnet._errors import DevnetReason

STOP_GRACE_S: Final = 10.0
_PR_SET_PDEATHSIG: Final = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM this process when its parent exits (Linux only)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One started service: its name, its process and where it logs."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


class Supervisor:
    """Starts, watches and stops the devnet's processes."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
        timeout_s: float = 60.0,
    ) -> Child:
        """Start ``python args...`` as ``name``; wait until ``ready()`` is true, if given.

        A child that exits or does not become ready in time is an error that names its log.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                [sys.executable, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        child = Child(name, process, log)
        self.children.append(child)
        if ready is None:
            return child
        deadline = time.monotonic() + timeout_s
        while not ready():
            if process.poll() is not None:
                raise InvalidInput(
                    DevnetReason.SERVICE_FAILED,
                    f"{name} exited with status {process.returncode}; see {log}",
                )
            if time.monotonic() > deadline:
                raise InvalidInput(
                    DevnetReason.SERVICE_FAILED,
                    f"{name} was not ready after {timeout_s:.0f} s; see {log}",
                )
            time.sleep(0.1)
        return child

    def failed(self) -> list[Child]:
        """Children that have exited on their own."""
        return [c for c in self.children if c.process.poll() is not None]

    def stop_all(self) -> None:
        """SIGTERM every child, newest first; SIGKILL those still running after the grace."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in reversed(self.children):
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()
