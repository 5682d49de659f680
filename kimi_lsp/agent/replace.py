"""StrReplaceFile's exact replacement: every edit matches once (or everywhere, when asked), or nothing changes.

A failed match is an answer the model can act on: the most similar text in the file, with its line numbers,
or every line where an ambiguous text occurs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kimi_lsp.agent.nearest import explain_mismatch
from kimi_lsp.agent.tool_specs import bool_arg, str_arg
from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.redact import KEY_REFUSAL, key_lines
from kimi_lsp.workspace.text import to_lf

__all__ = ["parse_edits", "replace_exactly"]

Edit = tuple[str, str, bool]  # old, new, replace_all


def replace_exactly(rel: str, text: str, edits: list[Edit]) -> tuple[str, int]:
    """``text`` (LF endings) with every edit applied, and the first line an edit touched. A ToolError when
    an edit does not match exactly once (unless replace_all); then no edit is applied."""
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
        keys = key_lines(text.split("\n"))
        starts = [m.start() for m in re.finditer(re.escape(old), text)] if replace_all else [text.find(old)]
        for start in starts if keys else ():
            first = text.count("\n", 0, start)
            if not keys.isdisjoint(range(first, first + old.count("\n") + 1)):
                raise ToolError(f"{which}{KEY_REFUSAL}.{_none_applied(edits)}")
        lines_changed.append(text.count("\n", 0, starts[0]) + 1)
        text = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    return text, min(lines_changed)


def parse_edits(raw: Any) -> list[Edit]:
    """The ``edit`` argument as a list of edits: an object, a list of them, or either sent as a JSON string."""
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
        old = str_arg(item, "old", required=True)
        new = str_arg(item, "new", required=True, allow_empty=True)
        assert old is not None and new is not None
        if old == new:
            raise ToolError(f"edit {index}: 'old' and 'new' are the same; nothing to change")
        edits.append((old, new, bool_arg(item, "replace_all")))
    return edits


def _none_applied(edits: list[Edit]) -> str:
    return " No edit was applied; the file is unchanged." if len(edits) > 1 else " The file is unchanged."


def _no_match(rel: str, text: str, old: str) -> str:
    return explain_mismatch(
        text.split("\n"),
        old.strip("\n").split("\n"),
        f"the old text was not found in {rel}",
        nothing=", and nothing similar either; read the file first.",
        fix="Copy the old text exactly (whitespace included, without the line numbers).",
    )
