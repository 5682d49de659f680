"""A test editor: pytest-lsp's client with a real editor's capabilities, open buffers that change when the
server's edits arrive (or, like Neovim, silently do not), and a scripted answer to message requests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from kimi_lsp.testing import STAND_IN_KEY

NVIM = "neovim@v0.11.0"
VSCODE = "visual-studio-code"


def utf16_offset(text: str, position: types.Position) -> int:
    """Offset in ``text`` of an LSP position counted in UTF-16 code units (written independently of the server)."""
    lines = text.splitlines(keepends=True)
    offset = sum(len(line) for line in lines[: position.line])
    if position.line >= len(lines):
        return len(text)
    line = lines[position.line].rstrip("\r\n")
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return offset + index
        units += 2 if ord(char) > 0xFFFF else 1
    return offset + len(line)


def apply_text_edits(text: str, edits: list[Any]) -> str:
    spans = sorted(
        ((utf16_offset(text, e.range.start), utf16_offset(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


@dataclass
class Buffer:
    text: str
    version: int


@dataclass
class Editor:
    client: LanguageClient
    root: Path
    buffers: dict[str, Buffer] = field(default_factory=dict)
    applied_edits: list[types.ApplyWorkspaceEditParams] = field(default_factory=list)
    message_requests: list[types.ShowMessageRequestParams] = field(default_factory=list)
    answer: Callable[[types.ShowMessageRequestParams], str | None] = lambda _params: None
    skip_edits: bool = False  # play Neovim answering applied=true while skipping a stale edit
    # Play an editor that shows an edit and asks the user first: the answer (True: apply) decides.
    review: Callable[[types.ApplyWorkspaceEditParams], Awaitable[bool]] | None = None

    def uri(self, relpath: str) -> str:
        return (self.root / relpath).as_uri()

    def open(self, relpath: str) -> str:
        uri = self.uri(relpath)
        text = (self.root / relpath).read_bytes().decode("utf-8") if (self.root / relpath).exists() else ""
        self.buffers[uri] = Buffer(text, 1)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        return uri

    def type_text(self, uri: str, new_text: str) -> None:
        """The user edits the buffer (whole-text change, as the test only cares about the result)."""
        buffer = self.buffers[uri]
        buffer.text = new_text
        buffer.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(buffer.version, uri),
                [types.TextDocumentContentChangeWholeDocument(new_text)],
            )
        )

    def _apply(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.applied_edits.append(params)
        if self.skip_edits:
            return types.ApplyWorkspaceEditResult(applied=True)
        edit = params.edit
        per_uri: dict[str, list[Any]] = {}
        for change in edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                buffer = self.buffers.get(change.text_document.uri)
                if buffer is not None and change.text_document.version not in (None, buffer.version):
                    return types.ApplyWorkspaceEditResult(applied=False, failure_reason="stale version")
                per_uri.setdefault(change.text_document.uri, []).extend(change.edits)
        for uri, edits in (edit.changes or {}).items():
            per_uri.setdefault(uri, []).extend(edits)
        for uri, edits in per_uri.items():
            if uri in self.buffers:
                self.type_text(uri, apply_text_edits(self.buffers[uri].text, edits))
            else:
                path = Path(uri.removeprefix("file://"))
                text = path.read_bytes().decode("utf-8") if path.exists() else ""
                self.buffers[uri] = Buffer(apply_text_edits(text, edits), 0)
        return types.ApplyWorkspaceEditResult(applied=True)

    def progress_of(self, token: Any) -> list[Any]:
        return list(self.client.progress_reports.get(token, []))

    def ended(self, token: Any) -> types.WorkDoneProgressEnd | None:
        return next((v for v in self.progress_of(token) if isinstance(v, types.WorkDoneProgressEnd)), None)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll ``predicate`` until it is truthy, failing after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
            await asyncio.sleep(0.02)

    async def wait_end(self, token: Any, timeout: float = 60.0) -> types.WorkDoneProgressEnd:
        return await self.wait_for(lambda: self.ended(token), timeout)

    async def command(self, name: str, *arguments: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(arguments))
        )


def _fix_code_action_parsing(client: LanguageClient) -> None:
    """lsprotocol's client-side converter reads any action with a ``command`` key as a bare Command, but a
    CodeAction's ``command`` is an object while a Command's is a string: tell them apart the way editors do."""
    converter = client.protocol._converter

    def hook(obj: Any, _type: Any) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


async def start_editor(
    root: Path,
    state: Path,
    *,
    preset: str = NVIM,
    options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    capabilities: types.ClientCapabilities | None = None,
) -> Editor:
    server_env = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY", "KIMI_BASE_URL")}
    server_env.update(
        {
            "KIMI_API_KEY": STAND_IN_KEY,
            "KIMI_LSP_STATE_DIR": str(state),
            "TMPDIR": str(state / "tmp"),
            "KIMI_SHADOW_DIR": str(state / "tmp"),
        }
    )
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    server_env.update(env or {})
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "kimi_lsp"],
        client_factory=make_test_lsp_client,
        server_env=server_env,
    )
    client = await config.start()
    _fix_code_action_parsing(client)
    editor = Editor(client, root)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    async def apply_edit(
        _client: LanguageClient, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        if editor.review is not None and not await editor.review(params):
            return types.ApplyWorkspaceEditResult(applied=False)
        return editor._apply(params)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def message_request(_client: LanguageClient, params: types.ShowMessageRequestParams) -> Any:
        editor.message_requests.append(params)
        title = editor.answer(params)
        return types.MessageActionItem(title) if title else None

    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or client_capabilities(preset),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(root.as_uri(), root.name)],
            initialization_options=options or {},
        )
    )
    return editor
