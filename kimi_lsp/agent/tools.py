"""The tools the model drives, named and shaped as in DESIGN.md, all confined to the shadow workspace.

:class:`Toolbox` turns a :class:`ToolCall` into a :class:`ToolResult` and never raises (except for
cancellation): bad JSON, unknown tools or arguments, paths outside the workspace, secrets and failed
matches all come back as a result text the model can act on. Outputs are written for the model: numbered
lines, bounded lists with a note saying what was left out, and edits that explain why they failed.

The file tools (read, search, edit) are here; the tools that run commands (``RunTests``, ``Shell``) are
``run_tools.py``'s.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import regex

from kimi_lsp.agent.patch import apply_patch
from kimi_lsp.agent.replace import parse_edits, replace_exactly
from kimi_lsp.agent.run_tools import CommandTools, parse_selection
from kimi_lsp.agent.sandbox import Sandbox
from kimi_lsp.agent.search import UNSAFE_WHOLE_TEXT, Search, clean_glob, glob_to_regex
from kimi_lsp.agent.syntax import numbered, syntax_problem
from kimi_lsp.agent.tool_specs import (
    GREP_TIMEOUT,
    LIST_MAX_CHARS,
    LIST_MAX_ITEMS,
    LONG_LINE,
    PARAMS,
    READ_DEFAULT_LINES,
    READ_MAX_CHARS,
    READ_ONLY_TOOLS,
    SPECS,
    ToolResult,
    bool_arg,
    int_arg,
    str_arg,
)
from kimi_lsp.errors import ToolError
from kimi_lsp.model.types import ToolCall, ToolSpec
from kimi_lsp.workspace.listing import walk_shown
from kimi_lsp.workspace.paths import relpath_of, resolve_in_root
from kimi_lsp.workspace.reading import open_confined, read_lines, read_text, sniff_binary
from kimi_lsp.workspace.text import to_lf, with_endings_of, write_confined


class Toolbox:
    """The model's tools over one workspace root (the shadow). Safe to call concurrently for reads."""

    def __init__(
        self,
        root: Path,
        *,
        test_command: str | None,
        test_timeout: float = 300.0,
        allow_shell: bool = False,
        env: Mapping[str, str] | None = None,
        on_output: Callable[[str], None] | None = None,
        aliases: Sequence[Path] = (),
        grep_timeout: float = GREP_TIMEOUT,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.grep_timeout = grep_timeout
        self._aliases = tuple(aliases)
        self._commands = CommandTools(
            # The job passes its sandbox; alone (tests, tools), commands run unconfined in ``root``.
            sandbox or Sandbox(self.root, self.root),
            test_command=test_command,
            timeout=test_timeout,
            env=dict(env) if env is not None else dict(os.environ),
            on_output=on_output,
        )
        self.touched: set[str] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[ToolResult]]] = {
            "ReadFile": self._read_file,
            "Glob": self._glob,
            "Grep": self._grep,
            "StrReplaceFile": self._str_replace,
            "WriteFile": self._write_file,
            "ApplyPatch": self._apply_patch,
            "RunTests": self._run_tests,
        }
        if allow_shell:
            self._handlers["Shell"] = self._shell
        self._specs = tuple(SPECS[name] for name in self._handlers)

    def specs(self) -> list[ToolSpec]:
        """The tools offered to the model, in a fixed order with fixed content (prompt-cache friendly)."""
        return list(self._specs)

    def read_only(self, name: str) -> bool:
        """True for tools that change nothing (reads and searches): the loop runs a batch of them at once."""
        return name in READ_ONLY_TOOLS

    async def run(self, call: ToolCall) -> ToolResult:
        """Execute one call; every failure becomes an error result (only cancellation propagates)."""
        handler = self._handlers.get(call.name)
        if handler is None:
            return ToolResult(
                f"unknown tool '{call.name}'; the available tools are: {', '.join(self._handlers)}", ok=False
            )
        try:
            args = json.loads(call.arguments) if call.arguments and call.arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return ToolResult(
                f"the arguments of this {call.name} call are not valid JSON "
                f"({exc.msg} at character {exc.pos}); they may have been cut off. "
                "Nothing was done: resend the call with complete JSON arguments.",
                ok=False,
            )
        if not isinstance(args, dict):
            return ToolResult(f"the arguments of {call.name} must be a JSON object", ok=False)
        target = next((args[k] for k in ("path", "pattern", "directory") if isinstance(args.get(k), str)), None)
        unknown = sorted(set(args) - set(PARAMS[call.name]))
        if unknown:
            return ToolResult(
                f"{call.name} does not take {', '.join(unknown)}; its arguments are: "
                f"{', '.join(PARAMS[call.name])}. Nothing was done.",
                ok=False,
                target=target,
            )
        try:
            return await handler(args)
        except ToolError as exc:
            return ToolResult(f"{call.name} failed: {exc}", ok=False, target=target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must reach the model as a result, not end the job
            return ToolResult(f"{call.name} failed: {type(exc).__name__}: {exc}", ok=False, target=target)

    # -- helpers ----------------------------------------------------------------------------------

    def _resolve(self, user_path: str) -> tuple[Path, str]:
        path = resolve_in_root(self.root, user_path, aliases=self._aliases)
        return path, relpath_of(self.root, path)

    def _commit(self, path: Path, rel: str, new_text: str, old_text: str | None) -> None:
        problem = syntax_problem(rel, new_text, old_text)
        if problem:
            raise ToolError(problem)
        write_confined(self.root, rel, new_text.encode("utf-8"))
        self.touched.add(rel)

    # -- reading ----------------------------------------------------------------------------------

    async def _read_file(self, args: dict[str, Any]) -> ToolResult:
        user_path = str_arg(args, "path", required=True)
        assert user_path is not None
        offset = int_arg(args, "line_offset", 1, 1)
        count = int_arg(args, "n_lines", READ_DEFAULT_LINES, 1)
        path, rel = self._resolve(user_path)
        text = await asyncio.to_thread(_read_window, self.root, path, rel, offset, count)
        return ToolResult(text, target=rel)

    async def _glob(self, args: dict[str, Any]) -> ToolResult:
        pattern = str_arg(args, "pattern", required=True)
        assert pattern is not None
        directory = str_arg(args, "directory") or "."
        pattern = clean_glob(pattern)
        if not pattern:
            raise ToolError("the pattern is empty; try **/*.py or *")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise ToolError("the pattern must be relative and stay inside the folder (no leading / or ..)")
        top, top_rel = self._resolve(directory)
        if not top.is_dir():
            raise ToolError(f"{top_rel} is not a folder")
        glob = glob_to_regex(pattern)
        deadline = time.monotonic() + self.grep_timeout

        def matching() -> list[str]:
            return [
                rel
                for rel, path in walk_shown(self.root, top)
                if glob.matches(path.relative_to(top).as_posix(), deadline)
            ]

        try:
            matches = await asyncio.to_thread(matching)
        except TimeoutError:
            raise ToolError(
                f"matching {pattern!r} was stopped after {self.grep_timeout:g} s: the pattern is too slow "
                "(many * in a row backtrack); use fewer wildcards, or narrow the directory"
            ) from None
        if not matches:
            hint = (
                f" (patterns without / match only directly inside the folder; try **/{pattern})"
                if "/" not in pattern
                else ""
            )
            return ToolResult(f"no files match {pattern} in {top_rel}{hint}", target=pattern)
        return ToolResult(_bounded(matches, "paths"), target=pattern)

    async def _grep(self, args: dict[str, Any]) -> ToolResult:
        pattern = str_arg(args, "pattern", required=True)
        assert pattern is not None
        where = str_arg(args, "path") or "."
        file_glob = clean_glob(str_arg(args, "glob") or "")
        flags = regex.IGNORECASE if bool_arg(args, "ignore_case") else 0
        try:
            compiled = regex.compile(pattern, flags)
            # Whole-file prefilter (one call per file instead of one per line), used only when a line's
            # match cannot depend on the lines around it.
            whole = None if UNSAFE_WHOLE_TEXT.search(pattern) else regex.compile(pattern, flags | regex.MULTILINE)
        except regex.error as exc:
            raise ToolError(f"invalid regular expression {pattern!r}: {exc} (Python `re` syntax)") from None
        top, top_rel = self._resolve(where)
        search = Search(
            compiled, whole, glob_to_regex(file_glob) if file_glob else None, "/" in file_glob, self.grep_timeout
        )
        try:
            lines = await asyncio.to_thread(search.run, self.root, top)
        finally:
            search.stop.set()  # on cancellation the worker thread stops at its next line
        if search.timed_out:
            found = f" Matches found so far:\n{_bounded(lines, 'matches')}" if lines else " No matches so far."
            return ToolResult(
                f"the search for {pattern!r} was stopped after {self.grep_timeout:g} s: the pattern is too slow "
                "(nested repetition such as (a+)+ or (a|a)* backtracks without end). Use a simpler or anchored "
                "pattern, or narrow `path` or `glob`." + found,
                ok=False,
                target=pattern,
            )
        if not lines:
            return ToolResult(f"no matches for {pattern!r} in {top_rel}", target=pattern)
        return ToolResult(_bounded(lines, "matches"), target=pattern)

    # -- editing ----------------------------------------------------------------------------------

    async def _str_replace(self, args: dict[str, Any]) -> ToolResult:
        user_path = str_arg(args, "path", required=True)
        assert user_path is not None
        edits = parse_edits(args.get("edit"))
        path, rel = self._resolve(user_path)
        original = read_text(self.root, path, rel)
        text, first = replace_exactly(rel, to_lf(original), edits)
        self._commit(path, rel, with_endings_of(original, text), original)
        view = numbered(text.split("\n"), first - 2, first + 6)
        return ToolResult(
            f"edited {rel}: {len(edits)} edit(s) applied (first at line {first}). The text there now:\n{view}",
            target=rel,
        )

    async def _write_file(self, args: dict[str, Any]) -> ToolResult:
        user_path = str_arg(args, "path", required=True)
        content = str_arg(args, "content", required=True, allow_empty=True)
        assert user_path is not None and content is not None
        if user_path.strip().endswith(("/", "\\")):
            raise ToolError(f"'{user_path}' ends with a slash, so it names a folder; give the path of a file")
        path, rel = self._resolve(user_path)
        if path.is_dir():
            raise ToolError(f"{rel} is a directory")
        old = read_text(self.root, path, rel) if path.exists() else None
        if old is not None and "\r" in old and "\r\n" not in content:
            content = with_endings_of(old, content)  # unchanged lines keep their CRLF (or LF) endings
        self._commit(path, rel, content, old)
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        return ToolResult(f"{'overwrote' if old is not None else 'created'} {rel} ({lines} lines)", target=rel)

    async def _apply_patch(self, args: dict[str, Any]) -> ToolResult:
        patch_text = str_arg(args, "patch", required=True)
        assert patch_text is not None
        report = apply_patch(self.root, patch_text)
        self.touched.update(report.touched)
        return ToolResult(report.text(), ok=report.ok, target=", ".join(f.path for f in report.files) or None)

    # -- running ----------------------------------------------------------------------------------

    async def _run_tests(self, args: dict[str, Any]) -> ToolResult:
        selection = parse_selection(args.get("selection"))
        for item in selection:
            path_part = item.split("::", 1)[0]
            if path_part:
                self._resolve(path_part)  # test ids must name files inside the workspace
        return await self._commands.run_tests(selection)

    async def _shell(self, args: dict[str, Any]) -> ToolResult:
        command = str_arg(args, "command", required=True)
        assert command is not None
        return await self._commands.shell(command)


# -- formatting helpers ----------------------------------------------------------------------------


def _read_window(root: Path, path: Path, rel: str, offset: int, count: int) -> str:
    with open_confined(root, path, rel) as handle:
        if sniff_binary(handle):
            raise ToolError(f"{rel} is a binary file; it cannot be shown or edited as text")
        window = read_lines(handle, offset, count, keep=LONG_LINE)
    total = window.total
    if total == 0:
        return f"[{rel} is empty]"
    if total is not None and offset > total:
        raise ToolError(f"line_offset {offset} is past the end of {rel}, which has {total} lines")
    if not window.lines:
        raise ToolError(f"line_offset {offset} is past the end of {rel}")
    out: list[str] = []
    size = 0
    cut = 0
    last = offset - 1
    for number, line, length in window.lines:
        if length > LONG_LINE:
            line = f"{line}… [line cut: {length} characters]"
            cut += 1
        entry = f"{number:6}\t{line}"
        if out and size + len(entry) > READ_MAX_CHARS:
            break
        out.append(entry)
        size += len(entry) + 1
        last = number
    of = f"{total}" if total is not None else f"more than {last} (the file is too big to count its lines)"
    notes = [f"{rel}: lines {offset}-{last} of {of}"]
    if total is None or last < total:
        notes.append(f"to read more, call ReadFile with line_offset={last + 1}")
    if cut:
        notes.append(f"{cut} long line(s) cut at {LONG_LINE} characters")
    if window.lossy:
        notes.append("the file is not valid UTF-8: undecodable bytes are shown as \ufffd and it cannot be edited")
    return "\n".join(out) + "\n[" + "; ".join(notes) + "]"


def _bounded(items: list[str], noun: str) -> str:
    out: list[str] = []
    size = 0
    for item in items:
        if len(out) >= LIST_MAX_ITEMS or size + len(item) > LIST_MAX_CHARS:
            break
        out.append(item)
        size += len(item) + 1
    text = "\n".join(out)
    if len(out) < len(items):
        text += f"\n[showing {len(out)} of {len(items)} {noun}; narrow the pattern or the path to see the rest]"
    return text
