"""Settings in force for each workspace folder, kept in memory so the code-action path never reads a file."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_lsp.agent.detect import detect_test_command
from kimi_lsp.context import TokenEstimator, WorkspaceIndex
from kimi_lsp.settings import LoadedSettings, load_settings


class IndexGate:
    """Serializes a folder's index between the event loop (cheap updates) and worker threads (scans, builds).

    While a worker reads the index, updates from editor events are queued instead of applied, so the
    loop never waits on a scan and a build never sees a dictionary change under it. The last reader
    out applies the queue, holding the gate, before anyone else can start reading.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._pending: list[Callable[[], None]] = []

    def apply(self, update: Callable[[], None]) -> None:
        with self._lock:
            if self._readers:
                self._pending.append(update)
                return
            update()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._lock:
            self._readers += 1
        try:
            yield
        finally:
            with self._lock:
                self._readers -= 1
                if not self._readers:
                    pending, self._pending = self._pending, []
                    for update in pending:
                        update()


@dataclass
class Folder:
    """One workspace folder as the server holds it: its settings, the test command found in its files, and the
    warm state kept for it (the index, the token estimator, the gate between scans and readers)."""

    root: Path
    loaded: LoadedSettings
    detected_test_command: str | None
    # Kept warm for the server's lifetime: scanned once off the request path, then updated from events.
    index: WorkspaceIndex = field(init=False)
    estimator: TokenEstimator = field(default_factory=TokenEstimator)
    gate: IndexGate = field(default_factory=IndexGate)

    def __post_init__(self) -> None:
        self.index = WorkspaceIndex(self.root)

    @property
    def test_command(self) -> str | None:
        return self.loaded.settings.test_command or self.detected_test_command


@dataclass
class ConfigStore:
    """Merges initializationOptions and workspace/configuration over each folder's files and the environment."""

    init_options: Mapping[str, Any] = field(default_factory=dict)
    client_settings: Mapping[str, Any] = field(default_factory=dict)
    folders: dict[Path, Folder] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _by_uri: dict[str, Folder | None] = field(default_factory=dict)
    _shown: set[str] = field(default_factory=set)

    def load(self, root: Path) -> Folder:
        """(Re)load one folder; called off the code-action path (initialize, configuration changes, saves)."""
        editor = {**self.init_options, **self.client_settings}
        # Lenient: one bad value is dropped (and reported) without losing the user's other settings.
        loaded = load_settings(root, editor=editor, editor_source="editor settings", lenient=True)
        previous = self.folders.get(root)
        config = Folder(root, loaded, detect_test_command(root))
        if previous is not None:  # a settings reload keeps the warm index and what the estimator learned
            config.index = previous.index
            config.estimator = previous.estimator
            config.gate = previous.gate
        self.folders[root] = config
        self._by_uri.clear()
        return config

    def unseen_warnings(self) -> list[str]:
        """Warnings of the folders' settings not yet shown to the user (each is shown once)."""
        fresh = []
        for config in self.folders.values():
            for warning in config.loaded.warnings:
                if warning not in self._shown:
                    self._shown.add(warning)
                    fresh.append(warning)
        return fresh

    def remove(self, root: Path) -> None:
        self.folders.pop(root, None)
        self._by_uri.clear()

    def for_uri(self, uri: str, to_path: Callable[[str], Path | None]) -> Folder | None:
        """``for_path`` memoized per URI: the code-action path asks this for every request."""
        try:
            return self._by_uri[uri]
        except KeyError:
            path = to_path(uri)
            config = self.for_path(path) if path is not None else None
            if len(self._by_uri) > 10_000:
                self._by_uri.clear()
            self._by_uri[uri] = config
            return config

    def for_path(self, path: Path) -> Folder | None:
        """The folder holding ``path`` (the deepest one in a multi-root workspace)."""
        best: Folder | None = None
        for root, config in self.folders.items():
            if path == root or root in path.parents:
                if best is None or len(root.parts) > len(best.root.parts):
                    best = config
        return best
