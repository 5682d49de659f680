"""Code actions built from what is already in memory: no model, no git, no disk, no subprocess."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types

FIX = "kimi.fix"
FIX_TESTS = "kimi.fixTests"
REFACTOR = "kimi.refactor"
CANCEL = "kimi.cancel"
APPLY = "kimi.apply"
SHOW_DIFF = "kimi.showDiff"
DISCARD = "kimi.discard"
STATUS = "kimi.status"
COMMANDS = (FIX, FIX_TESTS, REFACTOR, CANCEL, APPLY, SHOW_DIFF, DISCARD, STATUS)

# Offered to clients that cannot ask for an instruction themselves (the editor plugins ask).
REFACTOR_PRESETS = (
    ("Simplify", "Simplify this code without changing its behaviour."),
    ("Add type hints", "Add precise type hints to this code."),
    ("Add docstrings", "Add concise docstrings to the functions and classes in this code."),
)


@dataclass(frozen=True)
class Proposal:
    """A finished job's result waiting for the user (preview mode, or a refused apply)."""

    job_id: str
    title: str
    paths: frozenset[Path]
    edit: types.WorkspaceEdit | None


@dataclass(frozen=True)
class ClientFeatures:
    tags: bool
    resolve: bool

    @staticmethod
    def of(capabilities: types.ClientCapabilities) -> ClientFeatures:
        code_action = capabilities.text_document.code_action if capabilities.text_document else None
        tags = False
        resolve = False
        if code_action is not None:
            tag_support = code_action.tag_support
            tags = bool(tag_support and types.CodeActionTag.LlmGenerated in tag_support.value_set)
            resolve = bool(code_action.resolve_support and "edit" in code_action.resolve_support.properties)
        return ClientFeatures(tags=tags, resolve=resolve)


def _wants(only: Sequence[str] | None, kind: str) -> bool:
    if not only:
        return True
    return any(kind == wanted or kind.startswith(wanted + ".") for wanted in only)


def _short(message: str, limit: int = 60) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "problem"
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _range_json(r: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": r.start.line, "character": r.start.character},
        "end": {"line": r.end.line, "character": r.end.character},
    }


def diagnostic_json(d: types.Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {"range": _range_json(d.range), "message": d.message}
    if d.severity is not None:
        out["severity"] = int(d.severity)
    if d.source:
        out["source"] = d.source
    if d.code is not None:
        out["code"] = d.code
    return out


def code_actions(
    params: types.CodeActionParams,
    *,
    test_command_known: bool,
    proposals: Iterable[Proposal],
    features: ClientFeatures,
    path: Path | None = None,
    running: Sequence[tuple[str, str]] = (),
) -> list[types.CodeAction]:
    """The Kimi actions for this request, most specific first; ``running`` holds (job id, title) per job."""
    only = params.context.only
    uri = params.text_document.uri
    tags = [types.CodeActionTag.LlmGenerated] if features.tags else None
    actions: list[types.CodeAction] = []

    for proposal in proposals:
        if path is not None and path in proposal.paths and _wants(only, types.CodeActionKind.QuickFix):
            actions.append(
                types.CodeAction(
                    title=f"Kimi: Apply {proposal.title}",
                    kind=types.CodeActionKind.QuickFix,
                    edit=proposal.edit,
                    command=None
                    if proposal.edit is not None
                    else types.Command(title="Kimi: Apply", command=APPLY, arguments=[{"jobId": proposal.job_id}]),
                    is_preferred=True,
                    tags=tags,
                )
            )
            for verb, command in (("Show diff of", SHOW_DIFF), ("Discard", DISCARD)):
                actions.append(
                    types.CodeAction(
                        title=f"Kimi: {verb} {proposal.title}",
                        kind=types.CodeActionKind.QuickFix,
                        command=types.Command(
                            title=f"Kimi: {verb}", command=command, arguments=[{"jobId": proposal.job_id}]
                        ),
                    )
                )

    # Every client lists code actions; not every client has a command palette: cancel and status live here too.
    if running and not only:
        for job_id, title in running:
            actions.append(
                types.CodeAction(
                    title=f"Kimi: Cancel {title}",
                    command=types.Command(title="Kimi: Cancel", command=CANCEL, arguments=[{"jobId": job_id}]),
                )
            )
        actions.append(
            types.CodeAction(
                title="Kimi: Status (what runs)",
                command=types.Command(title="Kimi: Status", command=STATUS, arguments=[{"show": True}]),
            )
        )

    if _wants(only, types.CodeActionKind.QuickFix):
        for diagnostic in params.context.diagnostics:
            argument = {
                "uri": uri,
                "range": _range_json(diagnostic.range),
                "diagnostics": [diagnostic_json(diagnostic)],
            }
            actions.append(
                types.CodeAction(
                    title=f"Kimi: Fix {_short(diagnostic.message)}",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=types.Command(title="Kimi: Fix", command=FIX, arguments=[argument]),
                    tags=tags,
                )
            )
        if test_command_known:
            actions.append(
                types.CodeAction(
                    title="Kimi: Fix failing tests",
                    kind=types.CodeActionKind.QuickFix,
                    command=types.Command(title="Kimi: Fix failing tests", command=FIX_TESTS, arguments=[{"uri": uri}]),
                    tags=tags,
                )
            )

    selection = params.range
    non_empty = selection.start.line != selection.end.line or selection.start.character != selection.end.character
    if non_empty and _wants(only, types.CodeActionKind.RefactorRewrite):
        argument = {"uri": uri, "range": _range_json(selection)}
        actions.append(
            types.CodeAction(
                title="Kimi: Refactor selection…",
                kind=types.CodeActionKind.RefactorRewrite,
                command=types.Command(title="Kimi: Refactor selection", command=REFACTOR, arguments=[argument]),
                tags=tags,
            )
        )
        for name, instruction in REFACTOR_PRESETS:
            actions.append(
                types.CodeAction(
                    title=f"Kimi: Refactor selection: {name}",
                    kind=types.CodeActionKind.RefactorRewrite,
                    command=types.Command(
                        title=f"Kimi: {name}",
                        command=REFACTOR,
                        arguments=[{**argument, "instruction": instruction}],
                    ),
                    tags=tags,
                )
            )
    return actions
