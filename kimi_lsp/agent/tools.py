"""The tools the model drives, named and shaped as in DESIGN.md, all confined to the shadow workspace.

:class:`Toolbox` turns a :class:`ToolCall` into a :class:`ToolResult` and never raises (except for
cancellation): bad JSON, unknown tools or arguments, paths outside the workspace, secrets and failed
matches all come back as a result text the model can act on. Outputs are written for the model: numbered
lines, bounded lists with a note saying what was left out, and edits that explain why they failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from kimi_lsp.agent.files import read_text, to_lf, walk_files, with_endings_of, write_text
from kimi_lsp.agent.nearest import nearest_window
from kimi_lsp.agent.patch import apply_patch
from kimi_lsp.agent.paths import relpath_of, resolve_in_root
from kimi_lsp.agent.sandbox import CommandResult, Sandbox
from kimi_lsp.agent.syntax import numbered, syntax_problem
from kimi_lsp.context.failures import TestReport, parse_test_output, run_problem
from kimi_lsp.errors import ToolError
from kimi_lsp.model.types import ToolCall, ToolSpec

READ_DEFAULT_LINES = 1000
READ_MAX_CHARS = 100_000
LONG_LINE = 2000
LIST_MAX_ITEMS = 200
LIST_MAX_CHARS = 30_000
GREP_LINE_CHARS = 300
GREP_MAX_FILE_BYTES = 2_000_000
GREP_TIMEOUT = 10.0
TEST_OUTPUT_HEAD = 3_000
TEST_OUTPUT_TAIL = 5_000


@dataclass
class ToolResult:
    """A tool's answer: ``text`` for the model, ``ok`` False on error, ``target`` for progress display."""

    text: str
    ok: bool = True
    target: str | None = None


# -- schemas ---------------------------------------------------------------------------------------

_EDIT = {
    "type": "object",
    "properties": {
        "old": {"type": "string", "description": "The exact text to replace (must occur in the file)."},
        "new": {"type": "string", "description": "The replacement text."},
        "replace_all": {"type": "boolean", "description": "Replace every occurrence (default false)."},
    },
    "required": ["old", "new"],
}


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_SPECS: dict[str, ToolSpec] = {
    "ReadFile": ToolSpec(
        "ReadFile",
        "Read a text file of the workspace. Lines come numbered (cat -n style) with the file's total line "
        f"count; at most {READ_DEFAULT_LINES} lines per call, lines over {LONG_LINE} characters are cut. "
        "Several ReadFile calls can be made in one turn.",
        _schema(
            {
                "path": {"type": "string", "description": "Path relative to the workspace root."},
                "line_offset": {"type": "integer", "description": "1-based line to start at (default 1)."},
                "n_lines": {
                    "type": "integer",
                    "description": f"How many lines (default {READ_DEFAULT_LINES}).",
                },
            },
            ["path"],
        ),
    ),
    "Glob": ToolSpec(
        "Glob",
        "List workspace files matching a glob pattern (`*` within a folder, `**` across folders, e.g. "
        f"`**/*.py`). At most {LIST_MAX_ITEMS} paths, relative to the workspace root.",
        _schema(
            {
                "pattern": {"type": "string", "description": "Glob pattern, relative to `directory`."},
                "directory": {"type": "string", "description": "Folder to search in (default: the root)."},
            },
            ["pattern"],
        ),
    ),
    "Grep": ToolSpec(
        "Grep",
        "Search file contents with a Python regular expression. Prints `path:line: text` for each matching "
        f"line, at most {LIST_MAX_ITEMS} matches. A search taking over {GREP_TIMEOUT:g} s is stopped.",
        _schema(
            {
                "pattern": {"type": "string", "description": "Python `re` regular expression."},
                "path": {"type": "string", "description": "File or folder to search (default: the root)."},
                "glob": {
                    "type": "string",
                    "description": "Only files matching this glob. Without `/` it matches the file name "
                    "(`*.py`); with `/` the path relative to the workspace root, not to `path` "
                    "(`src/**/*.py`).",
                },
                "ignore_case": {"type": "boolean", "description": "Case-insensitive search (default false)."},
            },
            ["pattern"],
        ),
    ),
    "StrReplaceFile": ToolSpec(
        "StrReplaceFile",
        "Replace exact text in a file. `edit` is one {old, new, replace_all?} or a list of them, applied in "
        "order, all or none. `old` must match exactly once unless replace_all is true. Python files that "
        "would stop compiling are refused.",
        _schema(
            {
                "path": {"type": "string", "description": "Path relative to the workspace root."},
                "edit": {
                    "type": ["object", "array"],
                    "description": "One edit object, or a list of edit objects.",
                    "properties": _EDIT["properties"],
                    "required": ["old", "new"],
                    "items": _EDIT,
                },
            },
            ["path", "edit"],
        ),
    ),
    "WriteFile": ToolSpec(
        "WriteFile",
        "Create a file or overwrite it entirely with `content` (folders on the way are created). Prefer "
        "StrReplaceFile or ApplyPatch for changes to existing files.",
        _schema(
            {
                "path": {"type": "string", "description": "Path relative to the workspace root."},
                "content": {"type": "string", "description": "The complete new content of the file."},
            },
            ["path", "content"],
        ),
    ),
    "ApplyPatch": ToolSpec(
        "ApplyPatch",
        "Apply a unified diff (one or more files, `--- a/path` / `+++ b/path` headers, `@@` hunks; "
        "`/dev/null` to create or delete). Hunks are located by their context and '-' lines, not by "
        "their line numbers; whitespace drift is tolerated. Each file applies all or none; the report "
        "says which hunks applied and shows the nearest text for those that did not.",
        _schema({"patch": {"type": "string", "description": "The unified diff text."}}, ["patch"]),
    ),
    "RunTests": ToolSpec(
        "RunTests",
        "Run the project's configured test command in the workspace. Returns the exit code, pass/fail "
        "counts, the failing tests with their locations and the output's head and tail.",
        _schema(
            {
                "selection": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Test ids or paths to run (default: the whole configured command).",
                }
            },
            [],
        ),
    ),
    "Shell": ToolSpec(
        "Shell",
        "Run a shell command in the workspace (no stdin, with a timeout; output cut to head and tail).",
        _schema({"command": {"type": "string", "description": "The command line, run by /bin/sh."}}, ["command"]),
    ),
}

_PARAMS = {name: tuple(spec.parameters["properties"]) for name, spec in _SPECS.items()}


# -- argument checking -----------------------------------------------------------------------------


def _str_arg(args: Mapping[str, Any], name: str, *, required: bool = False, allow_empty: bool = False) -> str | None:
    value = args.get(name)
    if value is None:
        if required:
            raise ToolError(f"missing required argument '{name}'")
        return None
    if not isinstance(value, str):
        raise ToolError(f"argument '{name}' must be a string, got {type(value).__name__}")
    if required and not allow_empty and not value:
        raise ToolError(f"argument '{name}' must not be empty")
    return value


def _int_arg(args: Mapping[str, Any], name: str, default: int, minimum: int) -> int:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"argument '{name}' must be an integer")
    if value < minimum:
        raise ToolError(f"argument '{name}' must be at least {minimum}")
    return value


def _bool_arg(args: Mapping[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ToolError(f"argument '{name}' must be true or false")
    return value


def clean_glob(pattern: str) -> str:
    """``pattern`` without leading ``./`` (``./**/*.py`` means ``**/*.py``)."""
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:].lstrip("/")
    return pattern


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a ``/``-separated glob: ``**`` spans folders, ``*`` and ``?`` stay within one.

    Sets follow :mod:`fnmatch`: ``[!a]`` negates, a ``]`` right after the opening bracket is a member, and
    an unclosed ``[`` is literal. A set that is still invalid (``[z-a]``) is a :class:`ToolError`.
    """
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            first = i + 2 if pattern.startswith("!", i + 1) else i + 1
            end = pattern.find("]", first + 1 if pattern.startswith("]", first) else first)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                negate = first == i + 2
                body = pattern[first:end].replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
                if body.startswith("^"):
                    body = "\\" + body
                out.append(("[^" if negate else "[") + body + "]")
                i = end + 1
        elif pattern[i] == "{":
            end = pattern.find("}", i + 1)
            if end == -1:
                out.append(re.escape("{"))
                i += 1
            else:
                out.append("(?:" + "|".join(re.escape(p) for p in pattern[i + 1 : end].split(",")) + ")")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error as exc:
        raise ToolError(f"invalid glob pattern {pattern!r}: {exc.msg}; use *, **, ? and [abc] only") from None


def _cut_middle(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    omitted = len(text) - head - tail
    return f"{text[:head]}\n... [{omitted} characters omitted] ...\n{text[-tail:]}"


# -- the toolbox -----------------------------------------------------------------------------------


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
        # The job passes its sandbox; alone (tests, tools), commands run unconfined in ``root``.
        self.sandbox = sandbox or Sandbox(self.root, self.root)
        self.test_command = test_command.strip() if test_command and test_command.strip() else None
        self.test_timeout = test_timeout
        self.grep_timeout = grep_timeout
        self.allow_shell = allow_shell
        self._env = dict(env) if env is not None else dict(os.environ)
        self._on_output = on_output
        self._aliases = tuple(aliases)
        self.touched: set[str] = set()
        self.last_test_report: TestReport | None = None
        self.last_test_result: CommandResult | None = None
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
        self._specs = tuple(_SPECS[name] for name in self._handlers)

    def specs(self) -> list[ToolSpec]:
        """The tools offered to the model, in a fixed order with fixed content (prompt-cache friendly)."""
        return list(self._specs)

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
        unknown = sorted(set(args) - set(_PARAMS[call.name]))
        if unknown:
            return ToolResult(
                f"{call.name} does not take {', '.join(unknown)}; its arguments are: "
                f"{', '.join(_PARAMS[call.name])}. Nothing was done.",
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
        write_text(path, new_text)
        self.touched.add(rel)

    # -- reading ----------------------------------------------------------------------------------

    async def _read_file(self, args: dict[str, Any]) -> ToolResult:
        user_path = _str_arg(args, "path", required=True)
        assert user_path is not None
        offset = _int_arg(args, "line_offset", 1, 1)
        count = _int_arg(args, "n_lines", READ_DEFAULT_LINES, 1)
        path, rel = self._resolve(user_path)
        text = await asyncio.to_thread(read_text, path, rel)
        return ToolResult(_format_read(rel, text, offset, count), target=rel)

    async def _glob(self, args: dict[str, Any]) -> ToolResult:
        pattern = _str_arg(args, "pattern", required=True)
        assert pattern is not None
        directory = _str_arg(args, "directory") or "."
        pattern = clean_glob(pattern)
        if not pattern:
            raise ToolError("the pattern is empty; try **/*.py or *")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise ToolError("the pattern must be relative and stay inside the folder (no leading / or ..)")
        top, top_rel = self._resolve(directory)
        if not top.is_dir():
            raise ToolError(f"{top_rel} is not a folder")
        regex = glob_to_regex(pattern)
        matches = await asyncio.to_thread(
            lambda: [rel for rel, path in walk_files(self.root, top) if regex.match(path.relative_to(top).as_posix())]
        )
        if not matches:
            hint = (
                f" (patterns without / match only directly inside the folder; try **/{pattern})"
                if "/" not in pattern
                else ""
            )
            return ToolResult(f"no files match {pattern} in {top_rel}{hint}", target=pattern)
        return ToolResult(_bounded(matches, "paths"), target=pattern)

    async def _grep(self, args: dict[str, Any]) -> ToolResult:
        pattern = _str_arg(args, "pattern", required=True)
        assert pattern is not None
        where = _str_arg(args, "path") or "."
        file_glob = clean_glob(_str_arg(args, "glob") or "")
        flags = regex.IGNORECASE if _bool_arg(args, "ignore_case") else 0
        try:
            compiled = regex.compile(pattern, flags)
            # Whole-file prefilter (one call per file instead of one per line), used only when a line's
            # match cannot depend on the lines around it.
            whole = None if _UNSAFE_WHOLE_TEXT.search(pattern) else regex.compile(pattern, flags | regex.MULTILINE)
        except regex.error as exc:
            raise ToolError(f"invalid regular expression {pattern!r}: {exc} (Python `re` syntax)") from None
        top, top_rel = self._resolve(where)
        search = _Search(
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
        user_path = _str_arg(args, "path", required=True)
        assert user_path is not None
        edits = _edits(args.get("edit"))
        path, rel = self._resolve(user_path)
        original = read_text(path, rel)
        text = to_lf(original)
        lines_changed: list[int] = []
        for number, (old, new, replace_all) in enumerate(edits, start=1):
            which = f"edit {number} of {len(edits)}: " if len(edits) > 1 else ""
            old, new = to_lf(old), to_lf(new)
            found = text.count(old)
            if found == 0:
                raise ToolError(f"{which}{_no_match(rel, text, old)}{_none_applied(edits)}")
            if found > 1 and not replace_all:
                starts = [m.start() for m in re.finditer(re.escape(old), text)]
                at = ", ".join(str(text.count("\n", 0, s) + 1) for s in starts[:20])
                raise ToolError(
                    f"{which}the old text occurs {found} times in {rel} (at lines {at}); "
                    "add surrounding lines to make it unique, or set replace_all to true." + _none_applied(edits)
                )
            lines_changed.append(text.count("\n", 0, text.find(old)) + 1)
            text = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        self._commit(path, rel, with_endings_of(original, text), original)
        first = min(lines_changed)
        view = numbered(text.split("\n"), first - 2, first + 6)
        return ToolResult(
            f"edited {rel}: {len(edits)} edit(s) applied (first at line {first}). The text there now:\n{view}",
            target=rel,
        )

    async def _write_file(self, args: dict[str, Any]) -> ToolResult:
        user_path = _str_arg(args, "path", required=True)
        content = _str_arg(args, "content", required=True, allow_empty=True)
        assert user_path is not None and content is not None
        if user_path.strip().endswith(("/", "\\")):
            raise ToolError(f"'{user_path}' ends with a slash, so it names a folder; give the path of a file")
        path, rel = self._resolve(user_path)
        if path.is_dir():
            raise ToolError(f"{rel} is a directory")
        old = read_text(path, rel) if path.exists() else None
        if old is not None and "\r" in old and "\r\n" not in content:
            content = with_endings_of(old, content)  # unchanged lines keep their CRLF (or LF) endings
        self._commit(path, rel, content, old)
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        return ToolResult(f"{'overwrote' if old is not None else 'created'} {rel} ({lines} lines)", target=rel)

    async def _apply_patch(self, args: dict[str, Any]) -> ToolResult:
        patch_text = _str_arg(args, "patch", required=True)
        assert patch_text is not None
        report = apply_patch(self.root, patch_text)
        self.touched.update(report.touched)
        return ToolResult(report.text(), ok=report.ok, target=", ".join(f.path for f in report.files) or None)

    # -- running ----------------------------------------------------------------------------------

    def test_argv(self, selection: Sequence[str] = ()) -> str:
        """The shell command RunTests runs: the configured command plus each selection item quoted."""
        if not self.test_command:
            raise ToolError(
                "no test command is configured for this workspace (set testCommand, or pass --test); "
                "RunTests cannot run"
            )
        return " ".join([self.test_command, *(shlex.quote(item) for item in selection)])

    async def run_tests(self, selection: Sequence[str] = ()) -> tuple[CommandResult, TestReport]:
        """Run the test command in the workspace (used by RunTests and by the job's own verification)."""
        command = self.test_argv(selection)
        result = await self.sandbox.run(command, timeout=self.test_timeout, env=self._env, on_output=self._on_output)
        report = parse_test_output(result.output, self.sandbox.seen_root, result.exit_code)
        self.last_test_result = result
        self.last_test_report = report
        return result, report

    async def _run_tests(self, args: dict[str, Any]) -> ToolResult:
        selection = _selection(args.get("selection"))
        for item in selection:
            path_part = item.split("::", 1)[0]
            if path_part:
                self._resolve(path_part)  # test ids must name files inside the workspace
        target = " ".join(selection) or "all tests"
        command = self.test_argv(selection)
        result, report = await self.run_tests(selection)
        return ToolResult(_format_tests(command, result, report), ok=not result.timed_out, target=target)

    async def _shell(self, args: dict[str, Any]) -> ToolResult:
        command = _str_arg(args, "command", required=True)
        assert command is not None
        result = await self.sandbox.run(command, timeout=self.test_timeout, env=self._env, on_output=self._on_output)
        status = (
            f"timed out after {self.test_timeout:g}s; the command's processes were killed"
            if result.timed_out
            else f"exit code {result.exit_code}"
        )
        body = _cut_middle(result.output, TEST_OUTPUT_HEAD, TEST_OUTPUT_TAIL)
        return ToolResult(
            f"$ {command}\n{status} ({result.duration:.1f}s)\n{body}", ok=not result.timed_out, target=command
        )


# -- formatting helpers ----------------------------------------------------------------------------


def _format_read(rel: str, text: str, offset: int, count: int) -> str:
    lines = to_lf(text).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = len(lines)
    if total == 0:
        return f"[{rel} is empty]"
    if offset > total:
        raise ToolError(f"line_offset {offset} is past the end of {rel}, which has {total} lines")
    out: list[str] = []
    size = 0
    cut = 0
    last = offset - 1
    for number in range(offset, min(total, offset + count - 1) + 1):
        line = lines[number - 1]
        if len(line) > LONG_LINE:
            line = f"{line[:LONG_LINE]}… [line cut: {len(line)} characters]"
            cut += 1
        entry = f"{number:6}\t{line}"
        if out and size + len(entry) > READ_MAX_CHARS:
            break
        out.append(entry)
        size += len(entry) + 1
        last = number
    notes = [f"{rel}: lines {offset}-{last} of {total}"]
    if last < total:
        notes.append(f"to read more, call ReadFile with line_offset={last + 1}")
    if cut:
        notes.append(f"{cut} long line(s) cut at {LONG_LINE} characters")
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


# Constructs whose result on a line can change when the line is searched inside its whole file (they
# see past the line's ends or forbid backtracking): anchors to the text's ends, negative lookarounds,
# lookbehinds, atomic groups, possessive quantifiers, backtracking verbs and flags switched off inline.
_UNSAFE_WHOLE_TEXT = re.compile(r"\\[AZzG]|\(\?<|\(\?!|\(\?>|[*+?}]\+|\(\*|\(\?[A-Za-z]*-")


@dataclass
class _Search:
    """One Grep run, made to be stopped: a deadline over the whole search and a flag for cancellation.

    Matching uses the ``regex`` package with a timeout and ``concurrent=True`` (the GIL is released while
    matching), so a catastrophic pattern neither freezes the event loop nor runs past the deadline.
    """

    pattern: Any  # a compiled ``regex`` pattern, run on each line
    whole: Any  # the same with MULTILINE, run once on a file's text to skip files without a match; or None
    name_filter: re.Pattern[str] | None
    glob_has_slash: bool  # a glob with "/" matches the root-relative path, otherwise the file name
    seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    timed_out: bool = False

    def run(self, root: Path, top: Path) -> list[str]:
        deadline = time.monotonic() + self.seconds
        found: list[str] = []
        try:
            self._scan(root, top, deadline, found)
        except TimeoutError:
            self.timed_out = True
        return found

    def _scan(self, root: Path, top: Path, deadline: float, found: list[str]) -> None:
        candidates = [(relpath_of(root, top), top)] if top.is_file() else walk_files(root, top)
        for rel, path in candidates:
            if self.name_filter is not None:
                subject = rel if self.glob_has_slash else rel.rsplit("/", 1)[-1]
                if not self.name_filter.match(subject):
                    continue
            try:
                if path.stat().st_size > GREP_MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if b"\x00" in data[:8192]:
                continue
            text = to_lf(data.decode("utf-8", errors="replace"))
            if self.whole is not None and not self.whole.search(text, timeout=self._left(deadline), concurrent=True):
                continue
            for number, line in enumerate(text.split("\n"), start=1):
                left = self._left(deadline)
                if self.stop.is_set():
                    return
                if self.pattern.search(line, timeout=left, concurrent=True):
                    shown = line if len(line) <= GREP_LINE_CHARS else line[:GREP_LINE_CHARS] + "…"
                    found.append(f"{rel}:{number}: {shown}")
                    if len(found) > LIST_MAX_ITEMS * 5:
                        return  # enough to report "more"; don't scan a huge tree to the end

    @staticmethod
    def _left(deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def _edits(raw: Any) -> list[tuple[str, str, bool]]:
    if isinstance(raw, str):
        # Models sometimes send the edit object JSON-encoded inside a string.
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ToolError(
                "'edit' is a string that is not valid JSON; send an object {old, new, replace_all?} or a list of them"
            ) from None
        if not isinstance(raw, (dict, list)):
            raise ToolError("'edit' must be an object {old, new, replace_all?} or a list of them")
    items = raw if isinstance(raw, list) else [raw]
    if raw is None or not items:
        raise ToolError("missing required argument 'edit' ({old, new, replace_all?} or a list of them)")
    edits = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ToolError(f"edit {index} must be an object with 'old' and 'new' strings")
        old = _str_arg(item, "old", required=True)
        new = _str_arg(item, "new", required=True, allow_empty=True)
        assert old is not None and new is not None
        if old == new:
            raise ToolError(f"edit {index}: 'old' and 'new' are the same; nothing to change")
        edits.append((old, new, _bool_arg(item, "replace_all")))
    return edits


def _none_applied(edits: list[tuple[str, str, bool]]) -> str:
    return " No edit was applied; the file is unchanged." if len(edits) > 1 else " The file is unchanged."


def _no_match(rel: str, text: str, old: str) -> str:
    lines = text.split("\n")
    found = nearest_window(lines, old.strip("\n").split("\n"))
    head = f"the old text was not found in {rel}"
    if found is None or found[2] < 0.3:
        return f"{head}, and nothing similar either; read the file first."
    start, end, _ = found
    return (
        f"{head}. The most similar text is at lines {start + 1}-{end}:\n{numbered(lines, start + 1, end)}\n"
        "Copy the old text exactly (whitespace included, without the line numbers)."
    )


def _selection(raw: Any) -> list[str]:
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ToolError("'selection' must be a list of test ids or paths (strings)")
    cleaned = [item.strip() for item in items if item.strip()]
    for item in cleaned:
        if item.startswith("-"):
            raise ToolError(f"'{item}' looks like an option; selection takes test ids or paths only")
        if item.startswith("@"):
            # pytest (and argparse-style runners) read '@file' as a file of more arguments.
            raise ToolError(f"'{item}' starts with '@' (an argument file); selection takes test ids or paths only")
    return cleaned


def _format_tests(command: str, result: CommandResult, report: TestReport) -> str:
    out = [f"$ {command}"]
    if result.timed_out:
        out.append(f"timed out after {result.duration:.0f}s; the test processes were killed")
    else:
        counts = f"{report.passed} passed, {report.failed} failed, {report.errors} errors, "
        counts += f"{report.skipped} skipped"
        out.append(
            f"exit code {result.exit_code} in {result.duration:.1f}s: "
            + (counts if report.parsed else "no test summary recognised in the output")
        )
        problem = run_problem(result.exit_code, result.output, report)
        if problem:
            out.append(f"The tests did not run as such: {problem}")
    if report.failures:
        out.append("Failing tests:")
        for failure in report.failures[:30]:
            where = f" ({failure.path}:{failure.line})" if failure.path and failure.line else ""
            message = failure.message.strip().split("\n")[-1][:300] if failure.message else ""
            out.append(f"  {failure.test_id}{where}" + (f": {message}" if message else ""))
        if len(report.failures) > 30:
            out.append(f"  ... and {len(report.failures) - 30} more")
    out.append("Output:" if len(result.output) <= TEST_OUTPUT_HEAD + TEST_OUTPUT_TAIL else "Output (head and tail):")
    out.append(_cut_middle(result.output, TEST_OUTPUT_HEAD, TEST_OUTPUT_TAIL))
    return "\n".join(out)
