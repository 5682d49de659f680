"""Text sync: open, changed, saved and closed documents keep the warm index and running jobs current."""

from __future__ import annotations

from lsprotocol import types

from kimi_lsp.lsp.configuration import reload_all
from kimi_lsp.lsp.core import KimiServer
from kimi_lsp.lsp.uris import uri_to_path

__all__ = ["register"]


def register(server: KimiServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: KimiServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.index_event(params.text_document.uri, "overlay", params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: KimiServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.proposals.text_changed(params.text_document.uri)
        document = ls.workspace.text_documents.get(params.text_document.uri)
        if document is not None:
            ls.index_event(params.text_document.uri, "overlay", document.source)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls: KimiServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            deleted = change.type == types.FileChangeType.Deleted
            ls.index_event(change.uri, "deleted" if deleted else "changed")

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: KimiServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.index_event(params.text_document.uri, "saved")
        path = uri_to_path(params.text_document.uri)
        config = ls.config.for_path(path) if path else None
        if config is not None and path is not None and path.name in ("pyproject.toml", ".kimi-lsp.toml"):
            reload_all(ls)
        if config is not None and config.loaded.settings.run_tests_on_save and config.test_command:
            ls.tests.schedule(config)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: KimiServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.index_event(params.text_document.uri, "close")
