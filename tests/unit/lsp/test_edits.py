"""Minimal LSP edits from old/new text, applying them, and WorkspaceEdit shapes per client capability."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types
from lsprotocol.converters import get_converter

from kimi_lsp.lsp.edits import (
    ANNOTATION_ID,
    FileEdit,
    apply_edits,
    build_workspace_edit,
    minimal_edits,
    normalize_newlines,
)
from kimi_lsp.lsp.positions import ENCODINGS, LineIndex

WORDS = ["def", "x", "=", "𝒳", "😀", "é", "中", "return", "(", ")", " ", "    ", "#", "a1", ""]
BREAKS = ["\n", "\n", "\n", "\r\n", "\r"]


def _random_line(rng: random.Random) -> str:
    return "".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6)))


def _random_text(rng: random.Random, breaks: list[str]) -> str:
    lines = [_random_line(rng) + rng.choice(breaks) for _ in range(rng.randint(0, 25))]
    if lines and rng.random() < 0.3:
        lines[-1] = lines[-1].rstrip("\r\n")
    return "".join(lines)


def _mutate(rng: random.Random, text: str) -> str:
    """A few random edits of the kinds a refactor makes: lines replaced, inserted, deleted, retyped."""
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["insert", "delete", "replace", "break", "line"])
        at = rng.randint(0, len(chars))
        if kind == "insert":
            chars[at:at] = list(rng.choice(WORDS))
        elif kind == "delete":
            del chars[at : at + rng.randint(1, 8)]
        elif kind == "replace":
            chars[at : at + rng.randint(0, 3)] = list(rng.choice(WORDS) + rng.choice(WORDS))
        elif kind == "break":
            chars[at:at] = list(rng.choice(["\n", "\r\n", "\r"]))
        else:
            chars[at:at] = list(_random_line(rng) + "\n")
    return "".join(chars)


def _offsets(text: str, edit: types.TextEdit, encoding: str) -> tuple[int, int]:
    index = LineIndex(text)
    return index.offset(edit.range.start, encoding), index.offset(edit.range.end, encoding)


def _check_edits(old: str, new: str, encoding: str) -> list[types.TextEdit]:
    edits = minimal_edits(old, new, encoding)
    assert apply_edits(old, edits, encoding) == new
    index = LineIndex(old)
    previous_end = -1
    for edit in edits:
        start, end = _offsets(old, edit, encoding)
        # Positions are canonical: they map back to themselves, so none points between \r and \n.
        assert index.position(start, encoding) == edit.range.start
        assert index.position(end, encoding) == edit.range.end
        assert start <= end
        assert start > previous_end, "edits overlap, touch, or are out of document order"
        previous_end = end
        assert old[start:end] != edit.new_text
    return edits


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_applying_minimal_edits_to_old_gives_new_on_random_texts(encoding: str) -> None:
    rng = random.Random(20250501)
    for _ in range(300):
        old = _random_text(rng, BREAKS)
        new = _mutate(rng, old) if rng.random() < 0.9 else _random_text(rng, BREAKS)
        _check_edits(old, new, encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_applying_minimal_edits_works_on_crlf_files_with_astral_characters(encoding: str) -> None:
    rng = random.Random(7)
    for _ in range(200):
        old = _random_text(rng, ["\r\n"])
        new = _mutate(rng, old)
        _check_edits(old, new, encoding)
        _check_edits(old, normalize_newlines(old, new.replace("\r\n", "\n")), encoding)


def test_identical_texts_give_no_edits() -> None:
    assert minimal_edits("same\r\ntext😀", "same\r\ntext😀") == []
    assert minimal_edits("", "") == []


def _big_file(lines: int = 1000) -> list[str]:
    # Repeated lines (blank, "pass", closing parens) are what confuse a diff that drops frequent lines.
    return [
        ["", "    pass", ")", f"def function_{n}(value: int) -> int:", f"    return value * {n}"][n % 5] + "\n"
        for n in range(lines)
    ]


def test_one_line_change_in_a_thousand_line_file_edits_only_that_line() -> None:
    lines = _big_file()
    old = "".join(lines)
    lines[503] = "def function_503(value: int) -> str:\n"
    new = "".join(lines)
    edits = _check_edits(old, new, "utf-16")
    assert len(edits) == 1
    edit = edits[0]
    assert edit.range.start.line == edit.range.end.line == 503
    assert edit.new_text == "str"
    column = lines[503].index("str")
    assert (edit.range.start.character, edit.range.end.character) == (column, column + 3)


def test_changes_far_apart_give_separate_small_edits() -> None:
    lines = _big_file()
    old = "".join(lines)
    lines[11] = "    pass  # kept\n"
    lines.insert(600, "# note\n")
    del lines[900]
    edits = _check_edits(old, "".join(lines), "utf-16")
    assert [edit.range.start.line for edit in edits] == [11, 600, 899]
    assert [edit.new_text for edit in edits] == ["  # kept", "# note\n", ""]


def test_changes_in_a_file_of_repeated_lines_stay_small_edits_at_the_changes() -> None:
    lines = ["x = 0\n"] * 1000
    old = "".join(lines)
    lines[100] = "x = 1\n"
    lines[900] = "x = 9\n"
    edits = _check_edits(old, "".join(lines), "utf-16")
    # Among identical lines a line diff may say "insert a line here, delete one there"; either way the
    # edits must sit at the two changes and not rewrite the 800 lines between them.
    assert len(edits) == 2
    first, second = edits
    assert 99 <= first.range.start.line <= first.range.end.line <= 101
    assert 899 <= second.range.start.line <= second.range.end.line <= 901
    assert all(len(edit.new_text) <= len("x = 1\n") for edit in edits)


def test_pure_line_insertion_is_an_insert_at_the_line_start() -> None:
    old = "import os\n\ndef f():\n    return 1\n"
    new = "import os\nimport sys\n\ndef f():\n    return 1\n"
    edits = _check_edits(old, new, "utf-16")
    assert len(edits) == 1
    assert edits[0].range.start == edits[0].range.end
    assert edits[0].new_text in ("import sys\n", "\nimport sys")


def test_edit_positions_count_astral_characters_in_the_requested_encoding() -> None:
    old = "s = '😀'\n"
    new = "s = '😀!'\n"
    for encoding, column in [("utf-16", 7), ("utf-8", 9), ("utf-32", 6)]:
        (edit,) = _check_edits(old, new, encoding)
        assert edit.range.start == types.Position(line=0, character=column)
        assert edit.new_text == "!"


def test_edit_never_cuts_between_cr_and_lf() -> None:
    old = "a\r\nb\r\n"
    for new in ["a\rX\nb\r\n", "a\r\rb\r\n", "a\nb\r\n", "a\r\nb\r", "a\r\n\nb\r\n"]:
        _check_edits(old, new, "utf-16")


def test_normalize_newlines_gives_lf_output_the_crlf_of_the_file() -> None:
    assert normalize_newlines("a\r\nb\r\n", "a\nB\nc\n") == "a\r\nB\r\nc\r\n"
    assert normalize_newlines("a\r\nb\r\n", "a\r\nB\nc") == "a\r\nB\r\nc"
    assert normalize_newlines("a\nb\n", "a\r\nb\n") == "a\r\nb\n"
    assert normalize_newlines("a\rb\r", "a\nb") == "a\rb"
    assert normalize_newlines("no breaks", "x\ny") == "x\ny"


def test_normalize_newlines_keeps_the_trailing_newline_as_the_model_wrote_it() -> None:
    assert normalize_newlines("a\r\nb", "a\nB\n") == "a\r\nB\r\n"
    assert normalize_newlines("a\r\nb\r\n", "a\nB") == "a\r\nB"


def test_crlf_file_edited_with_lf_output_keeps_crlf_and_edits_one_line() -> None:
    old = "".join(line.replace("\n", "\r\n") for line in _big_file(200))
    new_lf = old.replace("\r\n", "\n").replace("return value * 44", "return value * 45")
    edit = build_workspace_edit(
        [FileEdit("file:///w/a.py", old, new_lf)],
        versions={"file:///w/a.py": 3},
        supports_document_changes=True,
        supports_resource_ops=(),
        supports_change_annotations=False,
        label="Kimi",
        needs_confirmation=False,
    )
    assert edit.document_changes is not None
    (document_edit,) = edit.document_changes
    assert isinstance(document_edit, types.TextDocumentEdit)
    (text_edit,) = document_edit.edits
    assert isinstance(text_edit, types.TextEdit)
    assert text_edit.new_text == "5"
    result = apply_edits(old, document_edit.edits)
    assert result == old.replace("return value * 44", "return value * 45")
    assert "\n" not in result.replace("\r\n", "")


def test_apply_edits_uses_original_positions_whatever_the_order_given() -> None:
    text = "one\ntwo\nthree\n"

    def edit(line: int, start: int, end: int, new_text: str) -> types.TextEdit:
        return types.TextEdit(
            range=types.Range(
                start=types.Position(line=line, character=start), end=types.Position(line=line, character=end)
            ),
            new_text=new_text,
        )

    edits = [edit(2, 0, 5, "3"), edit(0, 0, 3, "1\n1.5"), edit(1, 0, 3, "2")]
    assert apply_edits(text, edits) == "1\n1.5\n2\n3\n"


def test_apply_edits_inserts_at_the_same_position_in_the_order_given() -> None:
    here = types.Range(start=types.Position(line=0, character=1), end=types.Position(line=0, character=1))
    replace = types.Range(start=types.Position(line=0, character=1), end=types.Position(line=0, character=2))
    edits: list[types.TextEdit | types.AnnotatedTextEdit] = [
        types.TextEdit(range=replace, new_text="R"),
        types.TextEdit(range=here, new_text="1"),
        types.AnnotatedTextEdit(range=here, new_text="2", annotation_id="k"),
    ]
    assert apply_edits("abc", edits) == "a12Rc"


def test_apply_edits_refuses_overlapping_or_backwards_edits() -> None:
    def rng_(a: int, b: int) -> types.Range:
        return types.Range(start=types.Position(line=0, character=a), end=types.Position(line=0, character=b))

    overlapping = [
        types.TextEdit(range=rng_(0, 3), new_text="x"),
        types.TextEdit(range=rng_(2, 4), new_text="y"),
    ]
    with pytest.raises(ValueError, match="overlaps"):
        apply_edits("abcdef", overlapping)
    with pytest.raises(ValueError, match="ends before it starts"):
        apply_edits("abcdef", [types.TextEdit(range=rng_(3, 1), new_text="x")])


# --- WorkspaceEdit shapes -------------------------------------------------------------------------

MODIFIED = FileEdit("file:///w/mod.py", "a = 1\nb = 2\n", "a = 1\nb = 3\n")
NOT_OPEN = FileEdit("file:///w/closed.py", "x\n", "y\n")
UNCHANGED = FileEdit("file:///w/same.py", "same\n", "same\n")
CREATED = FileEdit("file:///w/new.py", None, "print('hi 😀')\n")
DELETED = FileEdit("file:///w/old.py", "gone\n", None)
VERSIONS = {"file:///w/mod.py": 7, "file:///w/same.py": 2}


def _build(changes: list[FileEdit], **overrides: object) -> types.WorkspaceEdit:
    options: dict[str, object] = {
        "versions": VERSIONS,
        "supports_document_changes": True,
        "supports_resource_ops": ("create", "delete", "rename"),
        "supports_change_annotations": True,
        "label": "Kimi: fix failing test",
        "needs_confirmation": True,
    }
    options.update(overrides)
    return build_workspace_edit(changes, **options)  # type: ignore[arg-type]


def test_full_capabilities_give_versioned_annotated_document_changes_with_file_operations() -> None:
    edit = _build([MODIFIED, NOT_OPEN, UNCHANGED, CREATED, DELETED])
    assert edit.changes is None
    ops = list(edit.document_changes or [])
    assert [type(op).__name__ for op in ops] == [
        "TextDocumentEdit",
        "TextDocumentEdit",
        "CreateFile",
        "TextDocumentEdit",
        "DeleteFile",
    ]
    modified, closed, create, created_content, delete = ops
    assert isinstance(modified, types.TextDocumentEdit)
    assert modified.text_document == types.OptionalVersionedTextDocumentIdentifier(uri=MODIFIED.uri, version=7)
    assert isinstance(closed, types.TextDocumentEdit)
    assert closed.text_document.version is None
    assert isinstance(create, types.CreateFile) and create.uri == CREATED.uri
    assert create.options is not None and not create.options.overwrite
    assert isinstance(created_content, types.TextDocumentEdit)
    assert created_content.text_document == types.OptionalVersionedTextDocumentIdentifier(uri=CREATED.uri, version=None)
    assert isinstance(delete, types.DeleteFile) and delete.uri == DELETED.uri

    for op in (modified, closed, created_content):
        assert isinstance(op, types.TextDocumentEdit)
        assert op.edits and all(
            isinstance(e, types.AnnotatedTextEdit) and e.annotation_id == ANNOTATION_ID for e in op.edits
        )
    assert create.annotation_id == delete.annotation_id == ANNOTATION_ID
    assert edit.change_annotations == {
        ANNOTATION_ID: types.ChangeAnnotation(label="Kimi: fix failing test", needs_confirmation=True)
    }

    assert apply_edits(MODIFIED.old_text or "", modified.edits) == MODIFIED.new_text
    assert apply_edits("", created_content.edits) == CREATED.new_text


def test_workspace_edit_serializes_to_the_lsp_wire_shape() -> None:
    wire = get_converter().unstructure(_build([MODIFIED, CREATED, DELETED]), unstructure_as=types.WorkspaceEdit)
    kinds = [op.get("kind", "edit") for op in wire["documentChanges"]]
    assert kinds == ["edit", "create", "edit", "delete"]
    first = wire["documentChanges"][0]
    assert first["textDocument"] == {"uri": MODIFIED.uri, "version": 7}
    assert first["edits"][0]["annotationId"] == ANNOTATION_ID
    assert wire["changeAnnotations"][ANNOTATION_ID] == {
        "label": "Kimi: fix failing test",
        "needsConfirmation": True,
    }


def test_document_changes_without_annotation_support_use_plain_text_edits() -> None:
    edit = _build([MODIFIED, CREATED], supports_change_annotations=False)
    assert edit.change_annotations is None
    ops = list(edit.document_changes or [])
    for op in ops:
        if isinstance(op, types.TextDocumentEdit):
            assert all(type(e) is types.TextEdit for e in op.edits)
        else:
            assert op.annotation_id is None


def test_document_changes_without_resource_ops_refuse_created_and_deleted_files() -> None:
    with pytest.raises(ValueError, match=r"cannot create files.*new\.py"):
        _build([MODIFIED, CREATED], supports_resource_ops=())
    with pytest.raises(ValueError, match=r"cannot delete files.*old\.py"):
        _build([DELETED], supports_resource_ops=("create",))
    ops = list(_build([MODIFIED], supports_resource_ops=()).document_changes or [])
    assert len(ops) == 1


def test_without_document_changes_a_plain_changes_map_is_built() -> None:
    edit = _build([MODIFIED, NOT_OPEN, UNCHANGED], supports_document_changes=False)
    assert edit.document_changes is None
    assert edit.change_annotations is None
    assert edit.changes is not None
    assert set(edit.changes) == {MODIFIED.uri, NOT_OPEN.uri}
    assert all(type(e) is types.TextEdit for e in edit.changes[MODIFIED.uri])
    assert apply_edits(MODIFIED.old_text or "", list(edit.changes[MODIFIED.uri])) == MODIFIED.new_text
    assert apply_edits(NOT_OPEN.old_text or "", list(edit.changes[NOT_OPEN.uri])) == NOT_OPEN.new_text


def test_without_document_changes_file_creation_and_deletion_are_refused() -> None:
    for change in (CREATED, DELETED):
        with pytest.raises(ValueError, match=r"cannot (create|delete) files"):
            _build([MODIFIED, change], supports_document_changes=False)


def test_created_empty_file_is_a_create_operation_alone() -> None:
    ops = list(_build([FileEdit("file:///w/__init__.py", None, "")]).document_changes or [])
    assert [type(op) for op in ops] == [types.CreateFile]


def test_workspace_edit_positions_use_the_negotiated_encoding() -> None:
    change = FileEdit("file:///w/e.py", "s = '😀'\n", "s = '😀!'\n")
    for encoding, column in [("utf-16", 7), ("utf-8", 9)]:
        edit = _build([change], encoding=encoding, supports_document_changes=False)
        assert edit.changes is not None
        (text_edit,) = edit.changes[change.uri]
        assert text_edit.range.start.character == column


def test_bad_change_lists_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        _build([MODIFIED, MODIFIED])
    with pytest.raises(ValueError, match="neither old nor new"):
        _build([FileEdit("file:///w/x.py", None, None)])
    with pytest.raises(ValueError, match="unknown position encoding"):
        _build([MODIFIED], encoding="latin-1")


def test_resource_operation_kinds_from_client_capabilities_are_understood() -> None:
    ops = [types.ResourceOperationKind.Create, types.ResourceOperationKind.Delete]
    edit = _build([CREATED, DELETED], supports_resource_ops=ops)
    assert [type(op) for op in edit.document_changes or []] == [
        types.CreateFile,
        types.TextDocumentEdit,
        types.DeleteFile,
    ]


def test_snippet_edits_are_refused_by_apply_edits() -> None:
    origin = types.Position(line=0, character=0)
    snippet = types.SnippetTextEdit(
        range=types.Range(start=origin, end=origin), snippet=types.StringValue(value="${1:x}")
    )
    with pytest.raises(ValueError, match="snippet"):
        apply_edits("abc", [snippet])
