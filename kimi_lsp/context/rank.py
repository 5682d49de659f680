"""Which files matter for a request, most relevant first, each with the reason it was picked.

Order: the target, files named by tracebacks and diagnostics, files changed in the working tree,
the target's Python imports, files that import it, and its tests. Everything else goes into the
repository map as an outline.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from kimi_lsp.context.failures import TestReport
from kimi_lsp.context.imports import ModuleMap, importers_of, imports_of
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["Ranked", "is_test_path", "rank_files"]

REASON_TARGET = "target"
REASON_TRACEBACK = "traceback"
REASON_DIAGNOSTIC = "diagnostic"
REASON_CHANGED = "changed in working tree"
REASON_IMPORTED = "imported by target"
REASON_IMPORTER = "imports target"
REASON_TEST = "test for target"

MAX_NEIGHBOURS = 40  # per kind; a module imported everywhere would otherwise flood the ranking

_TEST_NAME = re.compile(r"(^test_.*|.*_test|.*\.test|.*\.spec|.*Test|.*Tests|.*_spec)$")


@dataclass
class Ranked:
    """A file picked for the prompt: why, and which lines (1-based) matter most in it."""

    path: str
    reason: str
    lines: list[int] = field(default_factory=list)


def is_test_path(path: str) -> bool:
    """True for files that look like tests by name or folder."""
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0] if "." in name else name
    if _TEST_NAME.match(name.rsplit(".", 1)[0]) or _TEST_NAME.match(stem):
        return True
    folders = path.split("/")[:-1]
    return any(folder in ("tests", "test", "__tests__", "spec") for folder in folders) and name != "__init__.py"


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]


class _Picker:
    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.order: list[Ranked] = []
        self.by_path: dict[str, Ranked] = {}

    def add(self, path: str | None, reason: str, lines: Iterable[int | None] = ()) -> None:
        if path is None or path not in self.allowed:
            return
        ranked = self.by_path.get(path)
        if ranked is None:
            ranked = Ranked(path, reason)
            self.by_path[path] = ranked
            self.order.append(ranked)
        for line in lines:
            if line is not None and line > 0 and line not in ranked.lines:
                ranked.lines.append(line)


def rank_files(
    index: WorkspaceIndex,
    *,
    target: str | None = None,
    target_line: int | None = None,
    diagnostics: Sequence[tuple[str, int]] = (),
    report: TestReport | None = None,
    changed: Sequence[str] = (),
    mentions: tuple[str, Collection[str]] | None = None,
) -> list[Ranked]:
    """The files worth showing in full or in part, most relevant first, each listed once.

    ``mentions`` is ``(word, tracked files whose text holds it)`` from ``git grep``: a shortcut for
    finding the target's importers without reading every file (see ``importers_of``).
    """
    files = index.files()
    picker = _Picker(set(files))
    if target is not None:
        picker.add(target, REASON_TARGET, [target_line])

    if report is not None:
        for failure in report.failures:
            # The code line that raised first, then the test's own line, then the frames between.
            picker.add(failure.path, REASON_TRACEBACK, [failure.line])
            if failure.test_location is not None:
                picker.add(failure.test_location[0], REASON_TRACEBACK, [failure.test_location[1]])
            for path, line in failure.frames:
                picker.add(path, REASON_TRACEBACK, [line])
            test_file = failure.test_id.split("::", 1)[0] if "::" in failure.test_id else None
            picker.add(test_file, REASON_TRACEBACK)

    for path, line in diagnostics:
        picker.add(path, REASON_DIAGNOSTIC, [line])

    for path in list(changed)[:MAX_NEIGHBOURS]:
        picker.add(path, REASON_CHANGED)

    if target is not None and target.endswith(".py"):
        modules = ModuleMap(picker.allowed)
        for path in imports_of(index, modules, target)[:MAX_NEIGHBOURS]:
            picker.add(path, REASON_IMPORTED)
        importers = importers_of(index, modules, target, mentions=mentions)
        tests = [path for path in importers if is_test_path(path)]
        others = [path for path in importers if not is_test_path(path)]
        for path in others[:MAX_NEIGHBOURS]:
            picker.add(path, REASON_IMPORTER)
        for path in _tests_by_name(files, target) + tests[:MAX_NEIGHBOURS]:
            picker.add(path, REASON_TEST)
    elif target is not None:
        for path in _tests_by_name(files, target):
            picker.add(path, REASON_TEST)
    return picker.order


def _tests_by_name(files: Sequence[str], target: str) -> list[str]:
    """Test files named after the target: ``test_x.py``, ``x_test.go``, ``x.test.ts``, ``x.spec.js``…"""
    stem = _stem(target)
    if not stem:
        return []
    names = {f"test_{stem}", f"{stem}_test", f"{stem}.test", f"{stem}.spec", f"{stem}Test", f"{stem}_spec"}
    found = []
    for path in files:
        if stem not in path or path == target:
            continue  # every name looked for spells out the stem: a cheap no for almost every file
        name = path.rsplit("/", 1)[-1]
        base = name.rsplit(".", 1)[0] if "." in name else name
        if base in names or (base.startswith(f"test_{stem}_") and is_test_path(path)):
            found.append(path)
    return found
