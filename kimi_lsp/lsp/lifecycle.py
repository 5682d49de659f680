"""Start and end of a session: initialize, initialized, workspace folders, file watching, shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types

from kimi_lsp.lsp import actions
from kimi_lsp.lsp.configuration import refresh_configuration, show_settings_warnings
from kimi_lsp.lsp.core import KimiServer
from kimi_lsp.lsp.uris import uri_to_path

__all__ = ["register"]


def register(server: KimiServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: KimiServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict):
            ls.config.init_options = options
        elif options is not None:
            ls.config.errors.append("initializationOptions must be an object; ignored")
        ls.features = actions.ClientFeatures.of(params.capabilities)
        folders = [uri_to_path(f.uri) for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [uri_to_path(params.root_uri)]
        elif not folders and params.root_path:
            folders = [Path(params.root_path)]
        for folder in folders:
            if folder is not None:
                ls.config.load(folder)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: KimiServer, params: types.InitializedParams) -> None:
        for message in ls.config.errors:
            ls.show(types.MessageType.Error, f"Kimi: {message}")
        show_settings_warnings(ls)
        await refresh_configuration(ls)
        await watch_files(ls)
        ls.background(ls.warm_indexes())

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: KimiServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        for removed in params.event.removed:
            path = uri_to_path(removed.uri)
            if path is not None:
                ls.config.remove(path)
        for added in params.event.added:
            path = uri_to_path(added.uri)
            if path is not None:
                ls.config.load(path)

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: KimiServer, *args: Any) -> None:
        await ls.jobs.shutdown()
        await ls.tests.stop()


async def watch_files(ls: KimiServer) -> None:
    """Ask the client to report file changes on disk (where it can), so the index need not rescan."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern="**/*")])
    registration = types.Registration(
        id="kimi-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(types.RegistrationParams(registrations=[registration])), 5.0
        )
    except Exception as exc:
        ls.log(f"file watching not available: {exc!r}")
