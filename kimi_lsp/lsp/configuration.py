"""Settings from the editor: ``workspace/configuration`` (section ``kimi``) and its change notifications."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from kimi_lsp.lsp.core import KimiServer

__all__ = ["refresh_configuration", "register", "reload_all", "show_settings_warnings"]


def register(server: KimiServer) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: KimiServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("kimi"), dict):
            ls.config.client_settings = settings["kimi"]
            reload_all(ls)
        else:
            await refresh_configuration(ls)


def show_settings_warnings(ls: KimiServer) -> None:
    for warning in ls.config.unseen_warnings():
        ls.show(types.MessageType.Warning, f"Kimi: {warning}")


def reload_all(ls: KimiServer) -> None:
    for root in list(ls.config.folders):
        ls.config.load(root)
    show_settings_warnings(ls)


async def refresh_configuration(ls: KimiServer) -> None:
    """Ask the client for section ``kimi`` (when it can answer) and reload every folder with it."""
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.configuration):
        return
    try:
        answer = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="kimi")])
            ),
            5.0,
        )
    except Exception as exc:
        ls.log(f"workspace/configuration failed: {exc!r}")
        return
    if answer and isinstance(answer[0], dict):
        ls.config.client_settings = answer[0]
        reload_all(ls)
