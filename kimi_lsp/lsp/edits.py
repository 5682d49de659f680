"""Turning a job's new file contents into small, exact LSP edits.

`minimal_edits` diffs old and new text by lines and trims each changed block to the characters that
really differ, so a one-line fix in a long file reaches the editor as one small edit and the user's
cursor, folds and undo history elsewhere in the file survive. `apply_edits` applies LSP edits with the
protocol's semantics and is what the tests (and rebasing) use to check them. `build_workspace_edit`
packs per-file changes into a `WorkspaceEdit` shaped for what the client said it supports.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from lsprotocol import types

from kimi_lsp.lsp.positions import UTF16, LineIndex, check_encoding

ANNOTATION_ID: Final = "kimi-lsp"
"""Change annotation id every edit of a `WorkspaceEdit` carries when the client supports annotations."""

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_BARE_LF = re.compile(r"(?<!\r)\n")


@dataclass(frozen=True)
class FileEdit:
    """One file's change: `old_text` None means the file is created, `new_text` None means it is deleted."""

    uri: str
    old_text: str | None
    new_text: str | None


def split_lines(text: str) -> list[str]:
    """Lines of `text`, each keeping its line break (`\\r\\n`, `\\n` or lone `\\r`), like LSP counts them."""
    return _LINE.findall(text)


def line_ending(text: str) -> str:
    """The line break `text` mostly uses; `\\n` when it has none or ties."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    cr = text.count("\r") - crlf
    if crlf > lf and crlf >= cr:
        return "\r\n"
    if cr > lf and cr > crlf:
        return "\r"
    return "\n"


def normalize_newlines(old: str, new: str) -> str:
    """`new` with bare `\\n` breaks rewritten to the line ending `old` mostly uses.

    The model writes LF; a CRLF file must stay CRLF rather than have every line rewritten. Breaks that
    already match are kept, and whether the text ends with a line break is left exactly as in `new`.
    """
    ending = line_ending(old)
    if ending == "\n":
        return new
    return _BARE_LF.sub(ending, new)


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    limit = min(len(a), len(b))
    n = 0
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def _common_suffix(a: Sequence[str], b: Sequence[str], limit: int) -> int:
    n = 0
    while n < limit and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _trim(old: str, new: str) -> tuple[int, int, int]:
    """(start, old_end, new_end): only old[start:old_end] differs, replaced by new[start:new_end].

    The common prefix and suffix of a changed block are cut off, but never between `\\r` and `\\n` of
    the old text: an LSP position cannot point there.
    """
    prefix = _common_prefix(old, new)
    if 0 < prefix < len(old) and old[prefix - 1] == "\r" and old[prefix] == "\n":
        prefix -= 1
    suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
    cut = len(old) - suffix
    if 0 < cut < len(old) and old[cut - 1] == "\r" and old[cut] == "\n":
        suffix -= 1
    return prefix, len(old) - suffix, len(new) - suffix


def _changed_spans(old: str, new: str) -> list[tuple[int, int, str]]:
    """(old_start, old_end, replacement) for each changed region, in document order, non-overlapping."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    old_starts = [0]
    for line in old_lines:
        old_starts.append(old_starts[-1] + len(line))
    new_starts = [0]
    for line in new_lines:
        new_starts.append(new_starts[-1] + len(line))

    # Common leading and trailing lines are set aside first: SequenceMatcher matches greedily by the
    # longest block, and in runs of repeated lines that block can slide away from the real change.
    head = _common_prefix(old_lines, new_lines)
    tail = _common_suffix(old_lines, new_lines, min(len(old_lines), len(new_lines)) - head)
    # autojunk would treat frequent lines (blank lines, closing braces) as noise and give poor diffs.
    matcher = difflib.SequenceMatcher(
        None, old_lines[head : len(old_lines) - tail], new_lines[head : len(new_lines) - tail], autojunk=False
    )
    spans: list[tuple[int, int, str]] = []
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = a1 + head, a2 + head, b1 + head, b2 + head
        old_start, old_end = old_starts[i1], old_starts[i2]
        new_start, new_end = new_starts[j1], new_starts[j2]
        old_block, new_block = old[old_start:old_end], new[new_start:new_end]
        start, old_cut, new_cut = _trim(old_block, new_block)
        replacement = new_block[start:new_cut]
        if start == old_cut and not replacement:
            continue
        spans.append((old_start + start, old_start + old_cut, replacement))
    return spans


def minimal_edits(old: str, new: str, encoding: str = UTF16) -> list[types.TextEdit]:
    """Small, non-overlapping edits in document order that turn `old` into exactly `new`.

    The text is compared as is: call `normalize_newlines` first to keep a file's line endings.
    """
    encoding = check_encoding(encoding)
    index = LineIndex(old)
    return [
        types.TextEdit(
            range=types.Range(start=index.position(start, encoding), end=index.position(end, encoding)),
            new_text=replacement,
        )
        for start, end, replacement in _changed_spans(old, new)
    ]


def apply_edits(
    text: str,
    edits: Sequence[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit],
    encoding: str = UTF16,
) -> str:
    """Apply LSP text edits to `text`: all ranges refer to the original text, edits must not overlap.

    Edits starting at the same position are inserted in the order given, as the protocol specifies.
    Raises ValueError for overlapping edits, a range whose end comes before its start, or a snippet edit
    (its text is a template, not the result).
    """
    encoding = check_encoding(encoding)
    index = LineIndex(text)
    spans: list[tuple[int, int, int, str]] = []
    for order, edit in enumerate(edits):
        if isinstance(edit, types.SnippetTextEdit):
            raise ValueError(f"edit {order} is a snippet edit, which has no plain text to apply")
        start = index.offset(edit.range.start, encoding)
        end = index.offset(edit.range.end, encoding)
        if end < start:
            raise ValueError(f"edit {order} ends before it starts: {_show(edit.range)}")
        spans.append((start, end, order, edit.new_text))
    spans.sort(key=lambda span: (span[0], span[1] > span[0], span[2]))

    pieces: list[str] = []
    cursor = 0
    for start, end, order, new_text in spans:
        if start < cursor:
            raise ValueError(f"edit {order} overlaps an earlier edit: {_show(edits[order].range)}")
        pieces.append(text[cursor:start])
        pieces.append(new_text)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _show(range_: types.Range) -> str:
    start, end = range_.start, range_.end
    return f"{start.line}:{start.character}-{end.line}:{end.character}"


def _whole_insert(text: str) -> list[types.TextEdit]:
    if not text:
        return []
    origin = types.Position(line=0, character=0)
    return [types.TextEdit(range=types.Range(start=origin, end=origin), new_text=text)]


def _file_edits(old: str, new: str, encoding: str) -> list[types.TextEdit]:
    return minimal_edits(old, normalize_newlines(old, new), encoding)


def _annotate(edits: list[types.TextEdit], annotated: bool) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    if not annotated:
        return list(edits)
    return [
        types.AnnotatedTextEdit(range=edit.range, new_text=edit.new_text, annotation_id=ANNOTATION_ID) for edit in edits
    ]


def build_workspace_edit(
    changes: Sequence[FileEdit],
    *,
    versions: Mapping[str, int | None],
    encoding: str = UTF16,
    supports_document_changes: bool,
    supports_resource_ops: Collection[str],
    supports_change_annotations: bool,
    label: str,
    needs_confirmation: bool,
    description: str | None = None,
) -> types.WorkspaceEdit:
    """A `WorkspaceEdit` carrying `changes` in the richest form the client supports.

    With document changes, each modified file becomes a `TextDocumentEdit` pinned to the version in
    `versions` (None when the file is not open), so the client refuses it if the user typed meanwhile;
    created and deleted files become `CreateFile`/`DeleteFile` operations, and a created file's content is
    inserted by a following `TextDocumentEdit`. With change annotations, every edit and operation carries
    `ANNOTATION_ID` with `label`, `needs_confirmation` and `description` (what an editor shows the user asked to
    confirm). Without document changes, a plain `changes` map.
    Unchanged files are left out. New text is first given the old file's line endings.

    Raises ValueError when a change cannot be expressed for this client (creating or deleting a file
    without resource-operation support), a file is listed twice, or a change has neither old nor new text.
    """
    encoding = check_encoding(encoding)
    # ResourceOperationKind members compare equal to their values; normalise them to plain strings.
    resource_ops = {getattr(op, "value", op) for op in supports_resource_ops}
    seen: set[str] = set()
    for change in changes:
        if change.uri in seen:
            raise ValueError(f"{change.uri} is listed twice in one workspace edit")
        seen.add(change.uri)
        if change.old_text is None and change.new_text is None:
            raise ValueError(f"{change.uri} has neither old nor new text")
        if change.old_text is None or change.new_text is None:
            operation = "create" if change.old_text is None else "delete"
            if not supports_document_changes or operation not in resource_ops:
                raise ValueError(
                    f"the editor cannot {operation} files through a workspace edit, "
                    f"so the change to {change.uri} cannot be applied; apply it with `kimi-lsp fix` instead"
                )

    if not supports_document_changes:
        plain: dict[str, Sequence[types.TextEdit]] = {}
        for change in changes:
            assert change.old_text is not None and change.new_text is not None  # checked above
            edits = _file_edits(change.old_text, change.new_text, encoding)
            if edits:
                plain[change.uri] = edits
        return types.WorkspaceEdit(changes=plain)

    annotated = supports_change_annotations
    annotation_id = ANNOTATION_ID if annotated else None
    operations: list[types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile] = []
    for change in changes:
        if change.new_text is None:
            # Already gone is as good as deleted; a failed delete would abort the user's whole apply.
            options = types.DeleteFileOptions(ignore_if_not_exists=True)
            operations.append(types.DeleteFile(uri=change.uri, options=options, annotation_id=annotation_id))
            continue
        if change.old_text is None:
            # Neither flag: a file the user created meanwhile makes the apply fail rather than be clobbered.
            create_options = types.CreateFileOptions(overwrite=False, ignore_if_exists=False)
            operations.append(types.CreateFile(uri=change.uri, options=create_options, annotation_id=annotation_id))
            edits, version = _whole_insert(change.new_text), None
        else:
            edits = _file_edits(change.old_text, change.new_text, encoding)
            version = versions.get(change.uri)
        if edits:
            document = types.OptionalVersionedTextDocumentIdentifier(uri=change.uri, version=version)
            text_edits = _annotate(edits, annotated)
            operations.append(types.TextDocumentEdit(text_document=document, edits=text_edits))

    annotations = None
    if annotated:
        annotation = types.ChangeAnnotation(label=label, needs_confirmation=needs_confirmation, description=description)
        annotations = {ANNOTATION_ID: annotation}
    return types.WorkspaceEdit(document_changes=operations, change_annotations=annotations)
