"""The request checks the real Kimi API applies, so a client that passes the stand-in passes the API.

Each check returns an ``ApiError`` carrying the status, message and type the API answers with.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True)
class ApiError:
    """An error answer: its HTTP status, message and Moonshot's error type (each dialect words the body)."""

    status: int
    message: str
    type: str


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request_error")


def unknown_model(model: object) -> ApiError:
    return ApiError(404, f"Not found the model {model} or Permission denied", "resource_not_found_error")


def unknown_path(path: str) -> ApiError:
    return ApiError(404, f"Not found: {path}", "resource_not_found_error")


UNAUTHORIZED = ApiError(401, "Invalid Authentication", "invalid_authentication_error")


def check_chat_request(body: Any, models: Collection[str], *, thinking: bool = True) -> ApiError | None:
    """The first reason the API would refuse this chat request, or None when it is acceptable."""
    if not isinstance(body, dict):
        return bad_request("Invalid request: the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return bad_request("Invalid request: model is required")
    if model not in models:
        return unknown_model(model)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return bad_request("Invalid request: messages must be a non-empty array")
    return (
        _check_messages(messages, thinking=thinking)
        or _check_tools(body.get("tools"))
        or _check_tool_choice(body.get("tool_choice", "auto"))
    )


def check_tools_offered(body: dict[str, Any]) -> ApiError | None:
    """OpenRouter validates each tool call in the history against the request's ``tools``, so a request
    with tool history must offer them (its docs: "tools must be included in every request")."""
    has_tool_history = any(
        isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in body.get("messages") or ()
    )
    if has_tool_history and not body.get("tools"):
        return bad_request(
            "Invalid request: the conversation contains tool calls but the request has no 'tools'; "
            "tools must be included in every request"
        )
    return None


def _check_messages(messages: list[Any], *, thinking: bool) -> ApiError | None:
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that made the call
    known: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return bad_request(f"Invalid request: message at index {index} has no valid role")
        role = message["role"]
        if role != "tool" and pending:
            return _unanswered(pending)
        error = _check_content(message.get("content"), index)
        if error:
            return error
        if role == "assistant" and message.get("tool_calls"):
            calls = message["tool_calls"]
            if thinking and "reasoning_content" not in message:
                return bad_request(
                    "thinking is enabled but reasoning_content is missing in assistant tool call message "
                    f"at index {index}"
                )
            if not isinstance(calls, list):
                return bad_request(f"Invalid request: tool_calls of message at index {index} must be an array")
            for call in calls:
                call_id = call.get("id") if isinstance(call, dict) else None
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(call_id, str) or not call_id or not isinstance(function, dict):
                    return bad_request(f"Invalid request: malformed tool call in message at index {index}")
                pending[call_id] = index
                known.add(call_id)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in known:
                return bad_request(f"Invalid request: tool_call_id {call_id} is not found")
            pending.pop(call_id, None)
    if pending:
        return _unanswered(pending)
    return None


def _unanswered(pending: dict[str, int]) -> ApiError:
    ids = ", ".join(sorted(pending))
    return bad_request(
        "Invalid request: an assistant message with 'tool_calls' must be followed by tool messages "
        "responding to each 'tool_call_id'. "
        f"The following tool_call_ids did not have response messages: {ids}"
    )


def _check_content(content: Any, index: int) -> ApiError | None:
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return bad_request(f"Invalid request: content of message at index {index} must be a string or array")
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and not part.get("text"):
            return bad_request(f"Invalid request: text content of message at index {index} is empty")
    return None


def _check_tools(tools: Any) -> ApiError | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return bad_request("Invalid request: tools must be an array")
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            return bad_request("Invalid request: each tool needs a function with a name")
        missing = _untyped_property(function.get("parameters") or {}, "")
        if missing is not None:
            return bad_request(f"Invalid request: tool {function['name']} parameters: property '{missing}' has no type")
    return None


def _untyped_property(schema: Any, path: str) -> str | None:
    """The dotted path of the first property (at any depth) whose schema has no ``type``."""
    if not isinstance(schema, dict):
        return None
    for name, sub in (schema.get("properties") or {}).items():
        where = f"{path}{name}"
        if not isinstance(sub, dict) or "type" not in sub:
            return where
        found = _untyped_property(sub, where + ".")
        if found is not None:
            return found
        for option in (sub.get("anyOf") or []) + (sub.get("oneOf") or []):
            if isinstance(option, dict) and "type" not in option:
                return where
            found = _untyped_property(option, where + ".")
            if found is not None:
                return found
    items = schema.get("items")
    if isinstance(items, dict):
        return _untyped_property(items, path)
    return None


def _check_tool_choice(choice: Any) -> ApiError | None:
    if choice in ("auto", "none", None):
        return None
    return bad_request(
        f"Invalid request: tool_choice {choice!r} is not supported, use 'auto' or 'none' (thinking is enabled)"
    )
