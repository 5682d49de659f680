"""Turning a job's verified change into an edit for the documents as they are *now*.

The user may have typed while the job ran. Each file's change was computed against the job's snapshot
(base); the document now holds the user's text (theirs); the job's result is ours. A three-way merge rebases
the job's change onto the user's text; when both touched the same lines, nothing is applied.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.lsp.edits import FileEdit, build_workspace_edit, normalize_newlines
from kimi_lsp.lsp.merge import merge3
from kimi_lsp.lsp.uris import uri_to_path


@dataclass(frozen=True)
class OpenDocument:
    text: str
    version: int | None


@dataclass
class Rebased:
    """The edit to send (or None), the text each open document must hold afterwards, and any conflicts."""

    edit: types.WorkspaceEdit | None
    expected: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    rebased: list[str] = field(default_factory=list)
    unsupported: str | None = None


@dataclass(frozen=True)
class EditCapabilities:
    document_changes: bool
    resource_ops: frozenset[str]
    change_annotations: bool
    encoding: str

    @staticmethod
    def of(capabilities: types.ClientCapabilities, encoding: str) -> EditCapabilities:
        workspace_edit = capabilities.workspace.workspace_edit if capabilities.workspace else None
        document_changes = bool(workspace_edit and workspace_edit.document_changes)
        ops = (
            frozenset(getattr(op, "value", op) for op in (workspace_edit.resource_operations or []))
            if workspace_edit
            else frozenset()
        )
        annotations = bool(workspace_edit and workspace_edit.change_annotation_support)
        return EditCapabilities(document_changes, ops, annotations, encoding)


def rebase_changes(
    root: Path,
    changes: Sequence[FileChange],
    open_documents: Mapping[str, OpenDocument],
    read_disk: Callable[[Path], str | None],
    caps: EditCapabilities,
    *,
    label: str,
    needs_confirmation: bool,
    description: str | None = None,
) -> Rebased:
    """Build the WorkspaceEdit for ``changes`` against the current text of each file."""
    result = Rebased(edit=None)
    edits: list[FileEdit] = []
    versions: dict[str, int | None] = {}
    # Match open documents by path: the client's own URI spelling is what the edit must use.
    by_path = {path: uri for uri in open_documents if (path := uri_to_path(uri)) is not None}
    for change in changes:
        if change.binary:
            result.conflicts.append(f"{change.path} (binary file: apply it from the diff)")
            continue
        path = Path(os.path.normpath(root / change.path))
        uri = by_path.get(path) or path.as_uri()
        document = open_documents.get(uri)
        current = document.text if document is not None else read_disk(path)
        versions[uri] = document.version if document is not None else None
        target = change.new_text
        if current != change.old_text:
            if current is None or change.old_text is None or target is None:
                result.conflicts.append(change.path)
                continue
            merged = merge3(change.old_text, target, current)
            if merged.text is None:
                result.conflicts.append(change.path)
                continue
            target = merged.text
            result.rebased.append(change.path)
        if target is not None and current is not None:
            # The edit gives the new text the file's own line endings; expect what the editor will hold.
            target = normalize_newlines(current, target)
        if target == current:
            continue
        edits.append(FileEdit(uri, current, target))
        if document is not None and target is not None:
            result.expected[uri] = target
    if result.conflicts or not edits:
        return result
    try:
        result.edit = build_workspace_edit(
            edits,
            versions=versions,
            encoding=caps.encoding,
            supports_document_changes=caps.document_changes,
            supports_resource_ops=caps.resource_ops,
            supports_change_annotations=caps.change_annotations,
            label=label,
            needs_confirmation=needs_confirmation,
            description=description,
        )
    except ValueError as exc:
        result.unsupported = str(exc)
    return result


def mismatched(expected: Mapping[str, str], open_documents: Mapping[str, OpenDocument]) -> list[str]:
    """URIs whose open document does not hold the text the edit should have produced."""
    return [uri for uri, text in expected.items() if uri in open_documents and open_documents[uri].text != text]


def paths_of(root: Path, changes: Collection[FileChange]) -> frozenset[Path]:
    return frozenset(Path(os.path.normpath(root / change.path)) for change in changes)
