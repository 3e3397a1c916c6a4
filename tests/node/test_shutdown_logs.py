"""A clean stop logs no error: connections still open when a node's event loop ends are
cancelled, and Python 3.11's ``asyncio.start_server`` logs a cancelled connection task as
"Exception in callback" at ERROR unless the task ends normally (``RpcServer._serve``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, logging
    from optex.node._rpc import RpcServer

    logging.basicConfig(level=logging.INFO)

    async def main() -> None:
        server = RpcServer({})
        port = await server.start("127.0.0.1", 0)
        connection = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.2)  # the server's task waits for a request line
        assert connection  # held open (a dropped client would end the server's task first)
        # Leaving asyncio.run cancels that task, as a node's shutdown does.

    asyncio.run(main())
    """
)


def test_an_rpc_connection_open_at_shutdown_is_closed_without_an_error_log() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Exception in callback" not in done.stderr
    assert "ERROR" not in done.stderr
