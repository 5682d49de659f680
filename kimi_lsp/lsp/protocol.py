"""The JSON-RPC edge: errors the editor shows as one line, commands' arguments, and cancellation of a job by
its request."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any

import attrs
from cattrs import Converter
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol, default_converter, lsp_method

from kimi_lsp.errors import KimiError
from kimi_lsp.lsp import arguments

__all__ = ["KimiProtocol", "RequestFailed", "answers_errors", "converter"]


class RequestFailed(JsonRpcException):
    """A request refused with a message for the user (LSP's ``RequestFailed``): the message alone, one line."""

    CODE = -32803


def answers_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose ``KimiError`` becomes the request's error answer: its message, no exception class."""

    @functools.wraps(handler)
    async def run(ls: Any, *args: Any) -> Any:
        try:
            result = handler(ls, *args)
            return await result if inspect.isawaitable(result) else result
        except KimiError as exc:
            raise RequestFailed(str(exc)) from exc

    return run


def converter() -> Converter:
    """The server's converter: lsprotocol's, which also builds the commands' argument classes, strictly."""
    made = default_converter()
    arguments.register(made)
    return made


class KimiProtocol(LanguageServerProtocol):
    """Maps ``$/cancelRequest`` for a job-starting request onto that job (the request itself returned at once),
    answers requests whose params cannot be read with an error instead of leaving the client waiting, and
    refuses a command's argument of the wrong shape in the command's own words."""

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Generator[Any, Any, Any]:
        """pygls's own, which builds the handler's typed argument, with three differences.

        Every command takes one object: an empty argument list is no argument, as ``null`` is (the handler's
        default: ``kimi.status`` with no arguments at all is a status, not an error), and more than one is
        refused. An argument pygls could not build is refused as ``<command>: <reason>``, like every other
        refusal of a command, instead of "Invalid Params: ...".
        """
        if not params.arguments:
            params = attrs.evolve(params, arguments=None)
        elif len(params.arguments) > 1:
            raise RequestFailed(f"{params.command}: expected one object argument, got {len(params.arguments)}")
        try:
            return (yield from super().lsp_workspace__execute_command(params))
        except JsonRpcInvalidParams as exc:
            # pygls raises it while handling what the converter raised: that is the reason to give.
            reason = exc.__context__
            if reason is None:  # not an argument: an unknown command, said as pygls says it
                raise
            raise RequestFailed(f"{params.command}: {reason}") from reason

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                error = exc.to_response_error()
                error.message = f"invalid params for {data.get('method')}: {error.message or 'could not be read'}"
                self._send_response(data["id"], error=error)
            raise

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        if error is not None and error.data is not None:
            # pygls attaches the traceback, which already went to the server's log: the editor gets the message.
            error = type(error)(code=error.code, message=error.message)
        super()._send_response(msg_id, result, error)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        jobs = getattr(self._server, "jobs", None)  # the KimiServer's job manager
        job = jobs.by_request(msg_id) if jobs is not None else None
        if jobs is not None and job is not None:
            asyncio.get_running_loop().create_task(jobs.cancel(job.id))
        super()._handle_cancel_notification(msg_id)
