"""The repository map's layout: which files it lists first, and the order it prints them in.

Both orders are over every listable file of the workspace and depend only on the listing and the
folder of the focus file, so they are computed once per listing and focus folder and kept on the
index (a server asks for the same map again and again).
"""

from __future__ import annotations

from dataclasses import dataclass

from kimi_lsp.context import prompt as render
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["MapLayout", "map_layout"]


@dataclass(frozen=True)
class MapLayout:
    """``rows``: ``(path, folder, file line chars, folder line chars)`` nearest the focus first
    (most shared leading folders, then path order); ``printed``: paths by (folder, name, path)."""

    rows: tuple[tuple[str, str, int, int], ...]
    printed: tuple[str, ...]
    paths: frozenset[str]


def map_layout(index: WorkspaceIndex, focus: str | None) -> MapLayout:
    """The layout of ``index.listable()`` around ``focus`` (memoized on the index)."""
    focus_folder = focus.rpartition("/")[0] if focus and "/" in focus else ""
    key = (index.listing_stamp, focus_folder if focus else None)
    cached = index.memo.get("map layout")
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    layout = _layout(index.listable(), focus_folder.split("/") if focus_folder else [])
    index.memo["map layout"] = (key, layout)
    return layout


def _layout(paths: list[str], focus_parts: list[str]) -> MapLayout:
    shared_by_folder: dict[str, int] = {}
    dir_chars: dict[str, int] = {}
    keyed: list[tuple[int, str, str, int]] = []
    named: list[tuple[str, str, str]] = []
    for path in paths:
        folder, _, name = path.rpartition("/")
        shared = shared_by_folder.get(folder)
        if shared is None:  # per folder, not per file: a workspace has far fewer folders
            shared = 0
            for mine, theirs in zip(folder.split("/") if folder else (), focus_parts, strict=False):
                if mine != theirs:
                    break
                shared += 1
            shared_by_folder[folder] = shared
            dir_chars[folder] = render.map_dir_chars(folder)
        keyed.append((-shared, path, folder, render.map_file_chars(name)))
        named.append((folder, name, path))
    keyed.sort()
    named.sort()
    rows = tuple((path, folder, file_chars, dir_chars[folder]) for _, path, folder, file_chars in keyed)
    printed = tuple(path for _, _, path in named)
    return MapLayout(rows, printed, frozenset(paths))
