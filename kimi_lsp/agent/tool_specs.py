"""The tool vocabulary the model is offered (DESIGN.md's table), its limits, the checking of arguments and
the shape of every answer (:class:`ToolResult`).

The schemas never vary within a job (they head the cacheable prefix of every request); every property has
a ``type``, as the API requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kimi_lsp.errors import ToolError
from kimi_lsp.model.types import ToolSpec

READ_ONLY_TOOLS = frozenset({"ReadFile", "Glob", "Grep"})  # change nothing: safe to run side by side
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


SPECS: dict[str, ToolSpec] = {
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

PARAMS = {name: tuple(spec.parameters["properties"]) for name, spec in SPECS.items()}


# -- argument checking -----------------------------------------------------------------------------


def str_arg(args: Mapping[str, Any], name: str, *, required: bool = False, allow_empty: bool = False) -> str | None:
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


def int_arg(args: Mapping[str, Any], name: str, default: int, minimum: int) -> int:
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


def bool_arg(args: Mapping[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ToolError(f"argument '{name}' must be true or false")
    return value
