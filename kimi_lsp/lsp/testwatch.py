"""`runTestsOnSave`: a debounced background test run whose failures become `kimi-tests` diagnostics."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from lsprotocol import types

from kimi_lsp.agent.job import run_tests
from kimi_lsp.lsp.config import Folder

__all__ = ["DiagnosticsClient", "TestWatcher"]

DEBOUNCE_SECONDS = 1.0
SOURCE = "kimi-tests"


class DiagnosticsClient(Protocol):
    """What the test watcher needs of the server: the log and ``publishDiagnostics``."""

    def log(self, text: str) -> None: ...

    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None: ...


class TestWatcher:
    """Runs each folder's tests a moment after its last save and publishes their failures."""

    __test__ = False  # not a pytest class

    def __init__(self, client: DiagnosticsClient, debounce: float = DEBOUNCE_SECONDS) -> None:
        self.client = client
        self.debounce = debounce
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._published: dict[str, set[str]] = {}

    def schedule(self, config: Folder) -> None:
        """(Re)start the countdown for this folder; a save during a run restarts it after the run."""
        key = str(config.root)
        previous = self._pending.get(key)
        if previous is not None and not previous.done():
            previous.cancel()
        self._pending[key] = asyncio.get_running_loop().create_task(self._run_later(config))

    async def stop(self) -> None:
        tasks = [t for t in self._pending.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_later(self, config: Folder) -> None:
        await asyncio.sleep(self.debounce)  # the debounce window itself, not synchronization
        command = config.test_command
        if not command:
            return
        self.client.log(f"running tests after save: {command}")
        run = await run_tests(command, config.root, config.loaded.settings)
        by_uri: dict[str, list[types.Diagnostic]] = {}
        if not run.ok:
            for failure in run.failures:
                if not failure.get("path") or not failure.get("line"):
                    continue
                uri = (config.root / failure["path"]).as_uri()
                line = max(0, int(failure["line"]) - 1)
                by_uri.setdefault(uri, []).append(
                    types.Diagnostic(
                        range=types.Range(types.Position(line, 0), types.Position(line, 10_000)),
                        message=f"{failure['test_id']}: {failure['message']}".strip(": "),
                        severity=types.DiagnosticSeverity.Error,
                        source=SOURCE,
                    )
                )
        key = str(config.root)
        stale = self._published.get(key, set()) - set(by_uri)
        for uri in stale:
            self.client.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        for uri, diagnostics in by_uri.items():
            self.client.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
            )
        self._published[key] = set(by_uri)
        self.client.log(f"tests after save: exit {run.exit_code}, {run.failed} failed")
