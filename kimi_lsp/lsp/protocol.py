"""The JSON-RPC edge: errors the editor shows as one line, and cancellation of a job by its request."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol

from kimi_lsp.errors import KimiError

__all__ = ["KimiProtocol", "RequestFailed", "answers_errors"]


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


class KimiProtocol(LanguageServerProtocol):
    """Maps ``$/cancelRequest`` for a job-starting request onto that job (the request itself returned at once),
    and answers requests whose params cannot be read with an error instead of leaving the client waiting."""

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
