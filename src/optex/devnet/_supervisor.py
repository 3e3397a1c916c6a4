"""Child processes of a devnet: started in order, each with a readiness check, stopped cleanly.

Every service runs as its own process (``python -m optex ...`` or ``python -m optex.node``) in
its own process group, so that Ctrl-C in the terminal reaches only the devnet, which then stops
its children in reverse order: SIGTERM, a grace period, SIGKILL. A child that exits while the
devnet runs is reported by :meth:`Supervisor.failed` rather than silently restarted: a devnet
that hides crashes would hide bugs. On Linux each child also asks the kernel for SIGTERM when the
devnet dies (``PR_SET_PDEATHSIG``), so even a SIGKILLed devnet leaves no service behind.

A child may start with a lower CPU priority (``nice``): on a small machine the devnet runs the
chain and the settlement replay below the trading path, so a burst of orders is matched at once
and settled a little later, as it would be with the chain on machines of its own.

For failure drills (tests that kill a service mid-stream) :meth:`Supervisor.kill` SIGKILLs one
child and :meth:`Supervisor.restart` starts it again with the command line and readiness check
it was first started with, on the same home, in its place in the stop order. The devnet itself
never calls them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
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


def _before_exec(nice: int) -> Callable[[], None]:
    """What a child runs before exec: lower its priority by ``nice``, and die with the devnet."""

    def prepare() -> None:
        if nice:
            os.nice(nice)
        if sys.platform == "linux":
            _die_with_parent()

    return prepare


Ready = Callable[[], bool]


@dataclass
class Child:
    """One started service: its name, its process, where it logs, and how it was started (so
    that a drill can start it again the same way)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    ready: Ready | None = None
    timeout_s: float = 60.0
    nice: int = 0


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
        ready: Ready | None = None,
        timeout_s: float = 60.0,
        nice: int = 0,
    ) -> Child:
        """Start ``python args...`` as ``name`` (``nice`` steps below the devnet's priority);
        wait until ``ready()`` is true, if given.

        A child that exits or does not become ready in time is an error that names its log.
        """
        if self.find(name) is not None:
            raise InvalidInput(DevnetReason.SERVICE_FAILED, f"{name} is already supervised")
        log = self.logs / f"{name}.log"
        if not 0 <= nice <= 19:
            raise InvalidInput(DevnetReason.SERVICE_FAILED, f"nice {nice} is not in 0..19")
        process = self._spawn(log, args, env, nice)
        child = Child(name, process, log, tuple(args), env, ready, timeout_s, nice)
        self.children.append(child)
        self._wait_ready(child)
        return child

    def find(self, name: str) -> Child | None:
        """The child called ``name``, if one was started."""
        return next((c for c in self.children if c.name == name), None)

    def kill(self, name: str) -> Child:
        """SIGKILL the child called ``name`` (it gets no chance to clean up) and reap it."""
        child = self._named(name)
        if child.process.poll() is None:
            child.process.kill()
        child.process.wait()
        return child

    def restart(self, name: str, *, args: Sequence[str] | None = None) -> Child:
        """Start the exited child called ``name`` again as it was first started (or with
        ``args``) and wait for its readiness check; it keeps its place in the stop order.

        Files that the readiness check reads and the dead process left behind (an address
        file) are the caller's to remove first, as they are before a first start.
        """
        old = self._named(name)
        if old.process.poll() is None:
            raise InvalidInput(DevnetReason.SERVICE_FAILED, f"{name} is still running")
        new_args = old.args if args is None else tuple(args)
        process = self._spawn(old.log, new_args, old.env, old.nice)
        child = dataclasses.replace(old, process=process, args=new_args)
        self.children[self.children.index(old)] = child
        self._wait_ready(child)
        return child

    def _named(self, name: str) -> Child:
        child = self.find(name)
        if child is None:
            raise InvalidInput(DevnetReason.SERVICE_FAILED, f"no service called {name!r}")
        return child

    def _spawn(
        self, log: Path, args: Sequence[str], env: Mapping[str, str] | None, nice: int
    ) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                [sys.executable, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=_before_exec(nice),  # noqa: PLW1509 - no threads run at this point
            )

    @staticmethod
    def _wait_ready(child: Child) -> None:
        if child.ready is None:
            return
        deadline = time.monotonic() + child.timeout_s
        while not child.ready():
            if child.process.poll() is not None:
                raise InvalidInput(
                    DevnetReason.SERVICE_FAILED,
                    f"{child.name} exited with status {child.process.returncode}; see {child.log}",
                )
            if time.monotonic() > deadline:
                raise InvalidInput(
                    DevnetReason.SERVICE_FAILED,
                    f"{child.name} was not ready after {child.timeout_s:.0f} s; see {child.log}",
                )
            time.sleep(0.1)

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
