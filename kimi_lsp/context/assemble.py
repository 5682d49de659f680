"""``build_context``: from a request to a prompt that fits its token budget.

Pieces are accepted in order of importance (task, test results, diagnostics, the target file,
the working tree diff, the other ranked files, the repository map) and rendered in a fixed order
(files first, then the map, the task last). When all of the source fits, all of it goes in. The
budget counts every accepted character, so the prompt's estimate is exact and never over the limit.
"""

from __future__ import annotations

import gc

from kimi_lsp.context import prompt as render
from kimi_lsp.context.budget import (
    Budget,
    TokenEstimator,
    cut_to_tokens,
    windows_around,
)
from kimi_lsp.context.failures import TestReport, parse_test_output
from kimi_lsp.context.git import request_signals
from kimi_lsp.context.rank import Ranked, is_source_path, rank_files
from kimi_lsp.context.repo_map import fitted_map, listing_tokens
from kimi_lsp.context.request import (
    ContextFile,
    ContextRequest,
    ContextResult,
    check_budget,
    check_diagnostics,
    check_root,
    check_target,
    relative,
)
from kimi_lsp.errors import ConfigError
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["build_context"]

# Shares of the budget each volatile section may take at most.
_TASK_SHARE = 0.25
_TESTS_SHARE = 0.12
_DIAGNOSTICS_SHARE = 0.05
_DIFF_SHARE = 0.15
_COMMITS_SHARE = 0.02
_OTHER_WHOLE_SHARE = 0.25  # a non-target file bigger than this is shown as an excerpt
_OTHER_EXCERPT_SHARE = 0.10
_LEAD_SHARE = 0.5  # the best-ranked file of a request without a target, whole or as an excerpt
_MAP_RESERVE_SHARE = 0.10
_QUERY_CHARS = 20_000  # of the test output, from its end: the failures and the summary
_TARGET_RADII = (400, 250, 150, 80, 40, 20, 8, 3)
_OTHER_RADII = (150, 80, 40, 20, 8, 3)
# Files first: measured on tests/bench/bench_localize.py, the map ahead of them put the first file
# 3-16K tokens in, and bought a second job on the same tree only 1-4K tokens of reusable prefix (the
# map changes with the files shown); later turns of a job reuse the whole first prompt either way.
_SECTION_ORDER = (
    "header",
    "files",
    "repository map",
    "recent commits",
    "working tree diff",
    "test results",
    "diagnostics",
    "task",
)
_TITLES = {
    "repository map": "Repository map",
    "files": "Files",
    "recent commits": "Recent commits touching the target",
    "working tree diff": "Working tree changes (git diff HEAD)",
    "test results": "Test results",
    "diagnostics": "Diagnostics",
    "task": "Task",
}


def build_context(
    request: ContextRequest,
    index: WorkspaceIndex | None = None,
    estimator: TokenEstimator | None = None,
) -> ContextResult:
    """Gather, rank, fit and render the context for ``request``.

    ``index`` is the server's warm index (scanned here if it never was); without one a fresh index
    is scanned. Raises ConfigError for a bad root, budget or target.
    """
    # A cold build makes tens of thousands of short-lived containers (the target's syntax tree, the
    # index's entries) and no garbage cycles: cyclic collections while it runs would only re-scan
    # them, at a tenth of the build's time. Collection resumes (as it was) when it returns.
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        return _build(request, index, estimator)
    finally:
        if collecting:
            gc.enable()


def _build(request: ContextRequest, index: WorkspaceIndex | None, estimator: TokenEstimator | None) -> ContextResult:
    root = check_root(request.root)
    warnings: list[str] = []
    limit = check_budget(request.budget, warnings)
    estimator = estimator or TokenEstimator()
    if index is None:
        index = WorkspaceIndex(root)
    elif index.root != root:
        raise ConfigError(f"the workspace index is for {index.root}, not {root}")
    for path, text in request.overlays.items():
        relpath = relative(root, path)
        if relpath is not None and index.text(relpath) != text:
            index.set_overlay(relpath, text)
    wanted = relative(root, request.target) if request.target else None
    git = request_signals(root, index, wanted)
    warnings.extend(index.warnings)

    target = check_target(root, index, request.target) if request.target else None
    target_line = request.target_line
    if target is not None and target_line is not None:
        total = len((index.text(target) or "").splitlines())
        if target_line < 1 or target_line > max(total, 1):
            warnings.append(f"line {target_line} is outside {target} ({total} lines); using the whole file")
            target_line = None

    report = parse_test_output(request.test_output, root) if request.test_output else None
    diagnostics = check_diagnostics(root, request.diagnostics, warnings)
    query = "\n".join(
        [request.task or "", (request.test_output or "")[-_QUERY_CHARS:], *(item.message for item in diagnostics)]
    )
    ranked = rank_files(
        index,
        target=target,
        target_line=target_line,
        diagnostics=[(item.path, item.line) for item in diagnostics],
        report=report,
        changed=git.changed,
        mentions=(git.mention, git.mentions) if git.mention and git.mentions is not None else None,
        query=query,
    )

    assembler = _Assembler(index, Budget(limit, estimator), warnings)
    assembler.add("header", render.HEADER)
    if request.task:
        assembler.add_capped("task", request.task.rstrip() + "\n\n", _TASK_SHARE, keep="head")
    if report is not None and request.test_output:
        assembler.add_test_results(report, request.test_output)
    if diagnostics:
        rows = [(item.path, item.line, item.message, item.source, item.severity) for item in diagnostics]
        assembler.add_capped("diagnostics", render.render_diagnostics(rows), _DIAGNOSTICS_SHARE, keep="head")

    map_reserve = min(int(limit * _MAP_RESERVE_SHARE), assembler.map_listing_tokens())
    leading = [item for item in ranked if item.is_target]
    for item in leading:
        assembler.add_file(item, map_reserve, is_target=True)
    whole = _whole_source(index, ranked, assembler, map_reserve)
    if git.diff:
        assembler.add_capped("working tree diff", git.diff.rstrip("\n") + "\n\n", _DIFF_SHARE, keep="head")
    if git.commits:
        assembler.add_capped("recent commits", render.render_commits(git.commits), _COMMITS_SHARE, keep="head")
    # Without a target, the best-ranked source file is given the room a target would have.
    lead = next((item.path for item in ranked if is_source_path(item.path)), None) if not leading else None
    for item in whole or ranked:
        if not item.is_target:
            assembler.add_file(item, map_reserve, is_target=False, whole=whole is not None, lead=item.path == lead)
    assembler.add_map(focus=target or (ranked[0].path if ranked else None))
    return assembler.result(limit)


class _Assembler:
    """Accepts rendered pieces into named sections while the budget allows."""

    def __init__(self, index: WorkspaceIndex, budget: Budget, warnings: list[str]) -> None:
        self.index = index
        self.budget = budget
        self.estimator = budget.estimator
        self.warnings = warnings
        self.sections: dict[str, list[str]] = {name: [] for name in _SECTION_ORDER}
        self.files: list[ContextFile] = []
        self.included: set[str] = set()

    def _title(self, section: str) -> str:
        if self.sections[section] or section == "header":
            return ""
        return render.render_section_title(_TITLES[section])

    def add(self, section: str, text: str, reserve: int = 0) -> bool:
        """Accept ``text`` (plus the section title when it is the first piece) if it fits."""
        piece = self._title(section) + text
        if not self.budget.take(piece, reserve):
            return False
        self.sections[section].append(piece)
        return True

    def add_capped(self, section: str, body: str, share: float, *, keep: str) -> None:
        """Accept ``body`` cut to ``share`` of the budget (and to what is left)."""
        title = self._title(section)
        room = min(int(self.budget.limit * share), self.budget.remaining) - self.estimator.estimate(title) - 1
        text = cut_to_tokens(body, room, self.estimator, keep=keep) if room > 0 else ""
        if not text or not self.add(section, text):
            self.warnings.append(f"no room for the {section} in a {self.budget.limit}-token budget")
        elif text is not body:
            self.warnings.append(f"the {section} was cut to fit the budget")

    def add_file(
        self, item: Ranked, map_reserve: int, *, is_target: bool, whole: bool = False, lead: bool = False
    ) -> None:
        """Accept ``item`` whole if it fits its share, else the largest excerpt around its lines that does.

        ``whole``: all of the source fits, no share applies; ``lead``: the best-ranked file when there is
        no target, given up to ``_LEAD_SHARE`` of the budget."""
        text = self.index.text(item.path)
        if text is None or item.path in self.included:
            return
        lossy = self.index.is_lossy(item.path)
        if lossy:
            self.warnings.append(f"{item.path} is not valid UTF-8; undecodable bytes were replaced")
        room = self.budget.remaining - map_reserve
        title = self._title("files")
        whole_text = title + render.render_whole(item.path, text, item.reason, lossy)
        share = _LEAD_SHARE if lead else _OTHER_WHOLE_SHARE
        whole_cap = room if is_target or whole else min(room, int(self.budget.limit * share))
        fits = self.estimator.estimate(whole_text) <= whole_cap
        if fits and self.add("files", whole_text[len(title) :], map_reserve):
            self._record(item, whole_text, whole=True)
            return
        excerpt_share = _LEAD_SHARE if lead else _OTHER_EXCERPT_SHARE
        excerpt_cap = room if is_target else min(room, int(self.budget.limit * excerpt_share))
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        outline = self.index.outline(item.path)
        interest = item.lines or [1]
        radii = _TARGET_RADII if is_target or lead else _OTHER_RADII
        # The definitions that matter whole while they fit, then only the windows around the lines.
        attempts: list[tuple[int, bool, list[tuple[int, int]]]] = [(r, True, item.spans) for r in radii]
        if item.spans:
            attempts += [(radius, True, []) for radius in radii]
        attempts += [(3, False, []), (-1, True, [])]  # a narrow window without the outline; the outline alone
        for radius, with_outline, spans in attempts:
            if radius < 0 and not outline:
                break  # an outline-only excerpt of a file without an outline says nothing
            windows = windows_around(interest, radius, len(lines), spans) if radius >= 0 else []
            piece = render.render_excerpt(
                item.path, lines, windows, outline if with_outline else (), item.reason, lossy
            )
            if self.estimator.estimate(title + piece) <= excerpt_cap and self.add("files", piece, map_reserve):
                self._record(item, title + piece, whole=False)
                return
        if is_target:
            self.warnings.append(f"no room for the target {item.path} in a {self.budget.limit}-token budget")

    def add_test_results(self, report: TestReport, output: str) -> None:
        """The one statement of the test run: its counts, then its output (the end cut when too long)."""
        title = self._title("test results")
        head = render.render_test_report(report, "")
        room = min(int(self.budget.limit * _TESTS_SHARE), self.budget.remaining)
        room -= self.estimator.estimate(title + head) + 20
        raw = cut_to_tokens(output.strip("\n"), room, self.estimator, keep="head") if room > 0 else ""
        text = render.render_test_report(report, raw)
        if not raw or not self.add("test results", text):
            self.warnings.append(f"no room for the test results in a {self.budget.limit}-token budget")
        elif raw is not output.strip("\n"):
            self.warnings.append("the test results were cut to fit the budget")

    def _record(self, item: Ranked, piece: str, *, whole: bool) -> None:
        self.included.add(item.path)
        self.files.append(ContextFile(item.path, self.estimator.estimate(piece), item.reason, whole))

    def map_listing_tokens(self) -> int:
        """About what the repository map costs with paths only (what the files section must leave)."""
        return listing_tokens(self.index, self.estimator, self.included)

    def add_map(self, focus: str | None) -> None:
        """The repository map in what the budget has left (see ``repo_map.fitted_map``)."""
        text = fitted_map(self.index, self.budget, self.included, focus, self._title("repository map"))
        if text is not None:
            self.sections["repository map"].append(text)

    def result(self, limit: int) -> ContextResult:
        texts = {name: "".join(pieces) for name, pieces in self.sections.items()}
        prompt = "".join(texts[name] for name in _SECTION_ORDER)
        tokens = self.estimator.estimate(prompt)
        if tokens > limit:  # the accounting above makes this impossible; never send an oversized prompt
            raise AssertionError(f"context assembly overran its budget ({tokens} > {limit} tokens)")
        sections = [
            {"name": name, "tokens": self.estimator.estimate(texts[name])} for name in _SECTION_ORDER if texts[name]
        ]
        return ContextResult(
            prompt=prompt,
            tokens=tokens,
            budget=limit,
            files=self.files,
            sections=sections,
            warnings=list(dict.fromkeys(self.warnings)),
        )


def _whole_source(
    index: WorkspaceIndex, ranked: list[Ranked], assembler: _Assembler, map_reserve: int
) -> list[Ranked] | None:
    """Every source file in rank order (then by path), followed by the ranked tests, when all of the
    source fits whole in what the budget has left; None when it does not."""
    listed = {item.path for item in ranked}
    rest = [Ranked(path, ["source file"]) for path in index.files() if is_source_path(path) and path not in listed]
    sources = [item for item in ranked if is_source_path(item.path)] + rest
    room = assembler.budget.remaining - map_reserve
    chars = 0
    for item in sources:
        if item.path not in assembler.included:
            # Sizes from the listing, not the texts: a large workspace is ruled out without reading it.
            chars += index.size(item.path) + len(item.path) + 80  # heading and fence
            if assembler.estimator.tokens_for_chars(chars) > room:
                return None
    others = [item for item in ranked if not is_source_path(item.path)]
    return sources + others
