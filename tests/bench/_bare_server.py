"""The floor for bench_lsp.py: a bare pygls 2 server over stdio whose code action is one static CodeAction.

Started exactly like the real server (``python tests/bench/_bare_server.py [COUNT]``), so the difference
between the two is what kimi-lsp adds on top of pygls, lsprotocol and the pipe. ``COUNT`` (default 1) answers
with that many copies instead, to tell the cost of a bigger answer from the cost of kimi-lsp's handler.
"""

from __future__ import annotations

import sys

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare-floor", "0")
ACTION = types.CodeAction(
    title="Do the thing",
    kind=types.CodeActionKind.QuickFix,
    command=types.Command(title="Do the thing", command="bare.doIt", arguments=[{"uri": "file:///x"}]),
)

ANSWER = [ACTION] * (int(sys.argv[1]) if len(sys.argv) > 1 else 1)


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION)
def code_action(_ls: LanguageServer, _params: types.CodeActionParams) -> list[types.CodeAction]:
    return ANSWER


if __name__ == "__main__":
    server.start_io()
