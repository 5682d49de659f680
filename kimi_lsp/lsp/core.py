"""The server object every feature shares: settings per folder, the job manager, the proposals waiting for
the user, the test watcher, and the small helpers the features use (which folder a file belongs to, unsaved
buffers, index events). Jobs, proposals and the test watcher see it only through the narrow protocols they
declare (``JobsClient``, ``ReviewClient``, ``DiagnosticsClient``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from kimi_lsp import __version__
from kimi_lsp.agent.loop import ChatModel
from kimi_lsp.context import is_secret_path
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp import actions
from kimi_lsp.lsp.config import ConfigStore, Folder
from kimi_lsp.lsp.jobs import JobManager
from kimi_lsp.lsp.proposals import Proposals
from kimi_lsp.lsp.protocol import KimiProtocol, converter
from kimi_lsp.lsp.rebase import EditCapabilities, OpenDocument
from kimi_lsp.lsp.testwatch import TestWatcher
from kimi_lsp.lsp.uris import uri_to_path
from kimi_lsp.settings import Settings

__all__ = ["KimiServer", "default_model"]


def default_model(settings: Settings) -> ChatModel:
    from kimi_lsp.model.client import ModelClient

    return ModelClient(settings)


class KimiServer(LanguageServer):
    def __init__(self, model_factory: Callable[[Settings], ChatModel] = default_model) -> None:
        super().__init__("kimi-lsp", __version__, protocol_cls=KimiProtocol, converter_factory=converter)
        self.config = ConfigStore()
        self.proposals = Proposals(self)
        self.jobs = JobManager(self, model_factory, self.proposals)
        self.tests = TestWatcher(self)
        self._background: set[asyncio.Task[Any]] = set()
        self.features = actions.ClientFeatures(tags=False, resolve=False)

    # --- small helpers the features use -------------------------------------------------------------

    def log(self, text: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=text))

    def show(self, kind: types.MessageType, text: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=text))

    def background(self, coro: Any) -> None:
        """Run ``coro`` without blocking the handler; keep a reference so it is not collected mid-way."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def open_documents(self) -> dict[str, OpenDocument]:
        return {uri: OpenDocument(doc.source, doc.version) for uri, doc in self.workspace.text_documents.items()}

    def edit_capabilities(self) -> EditCapabilities:
        """How this editor takes a workspace edit, in the position encoding negotiated at initialize."""
        negotiated = self.workspace.position_encoding
        encoding = str(getattr(negotiated, "value", negotiated) or "utf-16")
        return EditCapabilities.of(self.client_capabilities, encoding)

    def folder_for(self, uri: str | None) -> Folder:
        """The workspace folder a job on ``uri`` runs in; a clear error when there is none to pick."""
        if uri is not None and uri_to_path(uri) is None:
            raise KimiError(f"{uri} is not a file on disk: save it inside a workspace folder first")
        path = uri_to_path(uri)
        if path is not None:
            config = self.config.for_path(path)
            if config is not None:
                return config
            # A file outside every workspace folder: its repository, never a guess like the home folder.
            repository = _repository_of(path)
            if repository is None:
                raise KimiError(f"{path} is outside every workspace folder and every git repository")
            return self.config.load(repository)
        if len(self.config.folders) == 1:
            return next(iter(self.config.folders.values()))
        if not self.config.folders:
            raise KimiError("no workspace folder is open")
        raise KimiError("several workspace folders are open: say which file the job is about ('uri')")

    def index_event(self, uri: str, kind: str, text: str | None = None) -> None:
        """Keep the folder's warm index current: overlay unsaved text, re-stat saved or changed files."""
        path = uri_to_path(uri)
        config = self.config.for_path(path) if path is not None else None
        if config is None or path is None:
            return
        relpath = path.relative_to(config.root).as_posix()
        index = config.index
        if kind == "overlay" and text is not None:
            config.gate.apply(lambda: index.set_overlay(relpath, text))
        elif kind == "close":
            config.gate.apply(lambda: index.clear_overlay(relpath))
        elif kind == "deleted":
            config.gate.apply(lambda: index.remove(relpath))
        elif index.scanned:
            config.gate.apply(lambda: index.update(relpath))

    async def warm_indexes(self) -> None:
        """Scan every folder once, in a thread, so the first job does not pay for it."""
        for config in list(self.config.folders.values()):
            if not config.index.scanned:
                try:
                    await asyncio.to_thread(_scan, config)
                except Exception as exc:  # the job will scan (and report) again; the server stays up
                    self.log(f"indexing {config.root} failed: {exc!r}")

    def overlays(self, root: Path) -> dict[str, str]:
        """Open documents under ``root``, keyed by workspace-relative path: the unsaved state wins over disk.

        Secret files (an open ``.env``) are left out: they never reach the shadow, let alone a prompt.
        """
        out: dict[str, str] = {}
        for uri, doc in self.workspace.text_documents.items():
            path = uri_to_path(uri)
            if path is None:
                continue
            try:
                relpath = path.relative_to(root).as_posix()
            except ValueError:
                continue
            if relpath in ("", ".") or relpath.startswith("../") or is_secret_path(relpath):
                continue
            out[relpath] = doc.source
        return out


def _repository_of(path: Path) -> Path | None:
    for folder in path.parents:
        if (folder / ".git").exists():
            return folder
    return None


def _scan(config: Folder) -> None:
    with config.gate.reading():
        config.index.scan()
