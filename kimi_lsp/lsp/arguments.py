"""The commands' arguments as typed classes, built by pygls from the handlers' annotations.

Each ``kimi.*`` command takes one object. ``@server.command`` reads the type its handler's argument is
annotated with and has the server's converter build it; ``register`` gives that converter a strict hook for
these classes, since cattrs on its own is lenient where a client's mistake should be told: it would turn
``12`` into ``"12"``, ``"no"`` into ``True`` and a string into a list of its letters. A value of the wrong
shape raises ``BadArgument``, naming the key and what it must be; ``protocol.KimiProtocol`` answers it as
``<command>: <reason>``. LSP structures inside (a range, diagnostics) are read by lsprotocol's own hooks.
"""

from __future__ import annotations

import functools
import types as pytypes
import typing
from typing import Any

import attrs
from cattrs import Converter
from lsprotocol import types

__all__ = ["ARGUMENT_CLASSES", "BadArgument", "JobArguments", "JobIdArguments", "StatusArguments", "register"]


class BadArgument(ValueError):
    """A command's argument of the wrong shape; the message says which key and what it must be."""


# Every key is optional (None when absent); its metadata says what its value must be, for the refusal.


@attrs.frozen
class JobArguments:
    """``kimi.fix``, ``kimi.fixTests``, ``kimi.refactor``: the file, the lines, the problems and what to do
    (which of these a command needs, it checks itself)."""

    uri: str | None = attrs.field(default=None, metadata={"must": "a string"})
    range: types.Range | None = attrs.field(default=None, metadata={"must": "an LSP range"})
    diagnostics: tuple[types.Diagnostic, ...] | None = attrs.field(
        default=None, metadata={"must": "a list of LSP diagnostics (each a range and a message)"}
    )
    instruction: str | None = attrs.field(default=None, metadata={"must": "a string"})


@attrs.frozen
class JobIdArguments:
    """``kimi.cancel``, ``kimi.apply``, ``kimi.showDiff``, ``kimi.discard``: which job (on the wire ``jobId``)."""

    job_id: str | None = attrs.field(default=None, metadata={"must": "a string"})


@attrs.frozen
class StatusArguments:
    """``kimi.status``: ``show`` also tells the user (a code action's answer is shown by no editor)."""

    show: bool | None = attrs.field(default=None, metadata={"must": "true or false"})


ARGUMENT_CLASSES = (JobArguments, JobIdArguments, StatusArguments)


def register(converter: Converter) -> None:
    """Teach ``converter`` (the server's) to build the argument classes strictly."""
    for cls in ARGUMENT_CLASSES:
        attrs.resolve_types(cls)
        converter.register_structure_hook(cls, functools.partial(_structure, converter))


def _structure(converter: Converter, value: Any, cls: type[Any]) -> Any:
    if not isinstance(value, dict):
        raise BadArgument(f"expected one object argument, got {type(value).__name__}")
    given: dict[str, Any] = {}
    for field in attrs.fields(cls):
        key = _camel(field.name)
        raw = value.get(key)
        if raw is not None:
            try:
                given[field.name] = _read(converter, _without_none(field.type), raw)
            except Exception:
                raise BadArgument(f"'{key}' must be {field.metadata['must']}") from None
    return cls(**given)


def _read(converter: Converter, kind: Any, raw: Any) -> Any:
    """``raw`` as ``kind``: a plain value only as itself, a tuple only from a list, LSP types by lsprotocol."""
    if kind in (str, bool):
        if not isinstance(raw, kind):
            raise TypeError(kind)
        return raw
    if typing.get_origin(kind) is tuple:
        if not isinstance(raw, list):
            raise TypeError(kind)
        (item, _ellipsis) = typing.get_args(kind)
        return tuple(_read(converter, item, each) for each in raw)
    return converter.structure(raw, kind)


def _without_none(kind: Any) -> Any:
    """``X`` of ``X | None``."""
    if isinstance(kind, pytypes.UnionType) or typing.get_origin(kind) is typing.Union:
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return inner
    return kind


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
