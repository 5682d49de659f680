"""The language server: the server object the features share, and how it is built and served.

The features live in their own modules, each registering its handlers: ``lifecycle`` (initialize, folders,
shutdown), ``configuration``, ``textsync``, ``commands`` (commands and code actions), over ``jobs`` (running
jobs and their results) and ``protocol`` (the JSON-RPC edge). Nothing on the code-action path waits for the
model, git, the disk or a subprocess: actions are built from settings and proposals already in memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, BinaryIO, cast

from kimi_lsp.agent.loop import ChatModel
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp import commands, configuration, lifecycle, textsync
from kimi_lsp.lsp.core import KimiServer, default_model
from kimi_lsp.lsp.transport import BoundedStdin, serve_tcp
from kimi_lsp.settings import Settings


def build_server(model_factory: Callable[[Settings], ChatModel] = default_model) -> KimiServer:
    server = KimiServer(model_factory)
    for feature in (lifecycle, configuration, textsync, commands):
        feature.register(server)
    return server


def _exit_gracefully_on(signum: int, server: KimiServer) -> None:
    """On SIGTERM, cancel every job (killing its test process group, removing its shadow), then exit.

    The default action would orphan the tests; raising inside the loop would hang on pygls's stdin thread.
    """

    async def stop() -> None:
        try:
            await asyncio.wait_for(asyncio.gather(server.jobs.shutdown(), server.tests.stop()), 10.0)
        finally:
            os._exit(128 + signum)

    def handler(_signum: int, _frame: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            os._exit(128 + signum)
        loop.call_soon_threadsafe(lambda: server.background(stop()))

    signal.signal(signum, handler)


def serve(tcp: str | None = None) -> int:
    logging.basicConfig(level=os.environ.get("KIMI_LSP_LOG", "WARNING"))
    server = build_server()
    _exit_gracefully_on(signal.SIGTERM, server)
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            raise KimiError(f"--tcp {tcp}: expected HOST:PORT")
        if host not in ("", "127.0.0.1", "localhost", "::1"):
            # Whoever connects can choose the endpoint (and so receive the key) and the test command.
            print(
                f"kimi-lsp: warning: listening on {host}: anyone who can reach it can run your test command "
                "and direct your API key to any endpoint; prefer 127.0.0.1",
                file=sys.stderr,
            )
        serve_tcp(server, host or "127.0.0.1", int(port))
    else:
        server.start_io(stdin=cast(BinaryIO, BoundedStdin(sys.stdin.buffer)))
    return 0
