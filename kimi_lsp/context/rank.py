"""Which files matter for a request, most relevant first, each with every reason it was picked.

Every signal adds to a file's score and its reasons: the target; diagnostics; each workspace frame
of each failure's traceback (the line that raised and the code the test called weigh most); the
definitions of what the failing test's own code names (a class's method, not just the class),
followed through re-exports to the defining module, and what those call; the module the failing
test's file is named after; the definitions the test's name spells out (shown whole in an excerpt
while they fit); how much of the failure's wording a file shares (BM25); files changed
in the working tree; the target's imports, importers and tests. Files the signals do not reach go
into the repository map as outlines, unless the whole source fits (see ``assemble``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from kimi_lsp.context.definitions import callees, find_definition
from kimi_lsp.context.failures import Failure, TestReport
from kimi_lsp.context.imports import ModuleMap, importers_of, imports_of
from kimi_lsp.context.relevance import bm25_scores, definitions_named_in, line_scores, test_source
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["Ranked", "is_source_path", "is_test_path", "rank_files"]

REASON_TARGET = "target"
REASON_TRACEBACK = "traceback"
REASON_RAISED = "traceback: raised here"
REASON_CALLED = "traceback: called by the test"
REASON_NAMED = "defines what the failing test uses"
REASON_CALLEE = "called from the failure's code"
REASON_LEXICAL = "shares the failure's words"
REASON_FAILING_TEST = "failing test"
REASON_TEST_FILE = "named like the failing test's file"
REASON_TEST_NAME = "defines what the failing test's name says"
REASON_DIAGNOSTIC = "diagnostic"
REASON_CHANGED = "changed in working tree"
REASON_IMPORTED = "imported by target"
REASON_IMPORTER = "imports target"
REASON_TEST = "test for target"

# Weights of the signals, chosen on the tuned half of tests/bench/bench_localize.py.
_WEIGHTS = {
    REASON_TARGET: 1000.0,
    REASON_DIAGNOSTIC: 3.5,  # below the line that raised, above a frame between
    REASON_RAISED: 4.0,
    REASON_CALLED: 4.0,
    REASON_TRACEBACK: 2.0,
    REASON_NAMED: 2.25,
    REASON_CALLEE: 0.3,
    REASON_LEXICAL: 6.0,  # times the file's BM25 score relative to the best file's
    REASON_FAILING_TEST: 2.5,
    REASON_TEST_FILE: 2.0,
    REASON_TEST_NAME: 0.5,
    REASON_CHANGED: 2.0,
    REASON_IMPORTED: 3.0,
    REASON_IMPORTER: 1.5,
    REASON_TEST: 2.5,
}
_OUTSIDE = 0.4  # lexical weight outside the packages the failure runs through
_INIT_NAMED = 0.5  # a definition in a package's __init__
MAX_NEIGHBOURS = 40  # per kind; a module imported everywhere would otherwise flood the ranking
MAX_SPAN = 120  # lines of one definition shown whole around the lines of interest
MAX_LEXICAL = 40  # files kept from the lexical ranking (a long tail of single shared words says nothing)
_NAME_CANDIDATES = 12  # best-ranked source files searched for the definitions a test's name spells out
_LINE_HINTS = 12  # the best-ranked files without lines of interest get the lines richest in the failure's words

_TEST_NAME = re.compile(r"(^test_.*|.*_test|.*\.test|.*\.spec|.*Test|.*Tests|.*_spec|^conftest)$")
_CODE = frozenset("py pyi js mjs cjs jsx ts tsx go rs java kt c h cc cpp hpp cs rb php swift lua sh".split())


@dataclass
class Ranked:
    """A file picked for the prompt: why (every reason, strongest first), its score, which lines
    (1-based) matter most in it, and which definitions (first and last line) to show whole if room allows."""

    path: str
    reasons: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    score: float = 0.0
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return ", ".join(self.reasons)

    @property
    def is_target(self) -> bool:
        return REASON_TARGET in self.reasons


def is_test_path(path: str) -> bool:
    """True for files that look like tests by name or folder."""
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0] if "." in name else name
    if _TEST_NAME.match(name.rsplit(".", 1)[0]) or _TEST_NAME.match(stem):
        return True
    folders = path.split("/")[:-1]
    return any(folder in ("tests", "test", "__tests__", "spec") for folder in folders) and name != "__init__.py"


def is_source_path(path: str) -> bool:
    """True for code files that are not tests: what a fix usually changes."""
    return path.rsplit(".", 1)[-1].lower() in _CODE and "." in path.rsplit("/", 1)[-1] and not is_test_path(path)


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]


class _Scores:
    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.by_path: dict[str, Ranked] = {}
        self.order: list[str] = []  # first seen first: the tie-break

    def add(
        self,
        path: str | None,
        reason: str,
        lines: Iterable[int | None] = (),
        weight: float = 1.0,
        spans: Iterable[tuple[int, int]] = (),
    ) -> None:
        if path is None or path not in self.allowed:
            return
        ranked = self.by_path.get(path)
        if ranked is None:
            ranked = self.by_path[path] = Ranked(path)
            self.order.append(path)
        if reason not in ranked.reasons:
            ranked.reasons.append(reason)
        ranked.score += _WEIGHTS[reason] * weight
        for line in lines:
            if line is not None and line > 0 and line not in ranked.lines:
                ranked.lines.append(line)
        for first, last in spans:
            span = (first, min(last, first + MAX_SPAN - 1))
            if span not in ranked.spans:
                ranked.spans.append(span)

    def ranked(self) -> list[Ranked]:
        position = {path: index for index, path in enumerate(self.order)}
        items = sorted(self.by_path.values(), key=lambda item: (-item.score, position[item.path]))
        for item in items:
            item.reasons.sort(key=lambda reason: -_WEIGHTS[reason])
        return items


def rank_files(
    index: WorkspaceIndex,
    *,
    target: str | None = None,
    target_line: int | None = None,
    diagnostics: Sequence[tuple[str, int]] = (),
    report: TestReport | None = None,
    changed: Sequence[str] = (),
    mentions: tuple[str, Collection[str]] | None = None,
    query: str = "",
) -> list[Ranked]:
    """The files worth showing in full or in part, most relevant first, each listed once.

    ``query`` is what the request says in words (test output, diagnostics, task): every source file
    is scored against it. ``mentions`` is ``(word, tracked files whose text holds it)`` from ``git
    grep``: a shortcut for finding the target's importers without reading every file.
    """
    files = index.files()
    scores = _Scores(set(files))
    modules: ModuleMap | None = None
    if target is not None:
        scores.add(target, REASON_TARGET, [target_line])
    for path, line in diagnostics:
        scores.add(path, REASON_DIAGNOSTIC, [line])

    failures = report.failures if report is not None else ()
    focus: list[str] = []  # the failing tests' own code
    if failures:
        modules = ModuleMap(scores.allowed)
        share = 1.0 / len(failures)  # a file named by every failure outranks one named by a single one
        for failure in failures:
            focus.append(_add_failure(index, modules, scores, failure, share))

    for path in list(changed)[:MAX_NEIGHBOURS]:
        scores.add(path, REASON_CHANGED)

    if query.strip():
        candidates = [path for path in files if is_source_path(path)]
        found = bm25_scores(index, candidates, query, "\n".join(focus))
        lexical = sorted(found.items(), key=lambda item: -item[1])
        folders = _package_folders(scores)
        for path, score in lexical[:MAX_LEXICAL]:
            # Outside the packages the failure runs through (benchmarks, docs, setup scripts) a
            # shared word means less.
            inside = not folders or any(path.startswith(folder) for folder in folders)
            scores.add(path, REASON_LEXICAL, weight=score if inside else score * _OUTSIDE)

    if target is not None and target.endswith(".py"):
        modules = modules or ModuleMap(scores.allowed)
        for path in imports_of(index, modules, target)[:MAX_NEIGHBOURS]:
            scores.add(path, REASON_IMPORTED)
        importers = importers_of(index, modules, target, mentions=mentions)
        tests = [path for path in importers if is_test_path(path)]
        others = [path for path in importers if not is_test_path(path)]
        for path in others[:MAX_NEIGHBOURS]:
            scores.add(path, REASON_IMPORTER)
        for path in dict.fromkeys(_tests_by_name(files, target) + tests[:MAX_NEIGHBOURS]):
            scores.add(path, REASON_TEST)
    elif target is not None:
        for path in _tests_by_name(files, target):
            scores.add(path, REASON_TEST)

    ranked = scores.ranked()
    if failures:
        ranked = _add_test_names(index, scores, ranked, failures)
    if query.strip():
        for item in ranked[:_LINE_HINTS]:
            if len(item.lines) < 2 and not item.is_target:
                text = index.text(item.path)
                if text is not None:
                    item.lines.extend(line for line in line_scores(text, query) if line not in item.lines)
    return ranked


def _add_test_names(
    index: WorkspaceIndex, scores: _Scores, ranked: list[Ranked], failures: Sequence[Failure]
) -> list[Ranked]:
    """The best-ranked source files that define what a failing test's name spells out, with those
    definitions' spans; ranked again."""
    names = list(dict.fromkeys(failure.test_id.rpartition("::")[2] for failure in failures))
    share = 1.0 / len(names)
    sources = [item.path for item in ranked if is_source_path(item.path)][:_NAME_CANDIDATES]
    changed = False
    for name in names:
        for path in sources:
            spans = definitions_named_in(index, path, name)
            if spans:
                scores.add(path, REASON_TEST_NAME, [first for first, _ in spans], share, spans=spans)
                changed = True
    return scores.ranked() if changed else ranked


def _package_folders(scores: _Scores) -> set[str]:
    """Top-level package folders of the source files the failure itself pointed at."""
    folders = set()
    for item in scores.by_path.values():
        if is_source_path(item.path) and item.reasons != [REASON_CHANGED] and "/" in item.path:
            parts = item.path.split("/")
            folders.add("/".join(parts[:2] if parts[0] in ("src", "lib") and len(parts) > 2 else parts[:1]) + "/")
    return folders


def _add_failure(index: WorkspaceIndex, modules: ModuleMap, scores: _Scores, failure: Failure, share: float) -> str:
    """The traceback's frames, the failing test itself, and what the test's code names; returns the
    test's source ("" when it cannot be read)."""
    test_file = failure.test_id.split("::", 1)[0] if "::" in failure.test_id else None
    frames = [(path, line) for path, line in failure.frames if path != test_file and not is_test_path(path)]
    if failure.path is not None and not is_test_path(failure.path) and (failure.path, failure.line) not in frames:
        frames.append((failure.path, failure.line or 0))
    for position, (path, line) in enumerate(frames):
        # The line that raised, and the workspace code the test called: the fix is most often in one of them.
        if position == len(frames) - 1:
            reason = REASON_RAISED
        elif position == 0:
            reason = REASON_CALLED
        else:
            reason = REASON_TRACEBACK
        scores.add(path, reason, [line], share)
    location = failure.test_location
    test_lines: dict[str, list[int]] = {test_file: []} if test_file is not None else {}
    for path, line in [*failure.frames, *([location] if location is not None else [])]:
        if path == test_file or is_test_path(path):
            test_lines.setdefault(path, []).append(line)
    for path, lines in test_lines.items():
        scores.add(path, REASON_FAILING_TEST, lines, share)  # once per file: it is one test
    if test_file is None or test_file not in scores.allowed:
        return ""
    for path, weight in _named_like(scores.allowed, test_file):
        scores.add(path, REASON_TEST_FILE, weight=share * weight)
    package = (modules.module_of(test_file) or "").rpartition(".")[0]
    test_line = location[1] if location is not None and location[0] == test_file else None
    source = test_source(index, test_file, failure.test_id, test_line, package)
    named: list[tuple[str, int, int, tuple[str, ...]]] = []
    for dotted in source.names:
        root, *rest = dotted.split(".")
        module, attribute = source.imports[root]
        found = find_definition(index, modules, module, [attribute, *rest] if attribute else rest)
        if found is not None and not is_test_path(found[0]):
            named.append(found)
    counted: set[str] = set()
    for path, first, last, _used in dict.fromkeys(named):
        # A package's __init__ often only hands the work on: what it calls matters more. A file counts
        # once however many of its definitions the test uses (a class, then its methods).
        weight = 0.0 if path in counted else share * (_INIT_NAMED if path.endswith("/__init__.py") else 1.0)
        counted.add(path)
        definition = [(first, last)] if first > 1 else []
        scores.add(path, REASON_NAMED, [first] if first > 1 else [], weight, spans=definition)
    for path, _first, _last, used in named:
        for callee, first, _ in callees(index, modules, path, used):
            if not is_test_path(callee):
                scores.add(callee, REASON_CALLEE, [first], share)
    return source.text


def _named_like(files: Collection[str], test_file: str) -> list[tuple[str, float]]:
    """Source files a test file is named after (``tests/test_items.py``: ``items.py``, or the files of
    an ``items/`` package, which share the weight), each with its share."""
    stem = _stem(test_file)
    subject = stem.removeprefix("test_").removesuffix("_test")
    if not subject or subject == stem:
        return []
    modules, members = [], []
    for path in files:
        if subject not in path or not is_source_path(path):
            continue  # cheap no for almost every file
        parts = path.split("/")
        if _stem(path) == subject and parts[-1] != "__init__.py":
            modules.append(path)
        elif subject in parts[:-1]:
            members.append(path)
    if modules:
        return [(path, 1.0 / len(modules)) for path in modules]
    return [(path, 1.0 / len(members) ** 0.5) for path in members]


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
