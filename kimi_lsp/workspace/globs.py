"""Glob patterns as regular expressions over ``/``-separated paths: the one translator, for the model's Glob and
Grep patterns and for ``.gitignore`` rules.

``**`` spans folders (``**/`` also matches no folder at all), ``*`` and ``?`` stay within one. Sets follow
:mod:`fnmatch`: ``[!a]`` negates, a ``]`` right after the opening bracket is a member, an unclosed ``[`` is literal.
The two dialects differ where git and the model's tools differ: ``.gitignore`` reads ``\\x`` as a literal ``x``,
``[^a]`` as a negated set and a trailing ``/**`` as "everything inside"; the tools read ``{a,b}`` as either.
"""

from __future__ import annotations

import re

__all__ = ["glob_regex"]


def glob_regex(pattern: str, *, gitignore: bool = False) -> str:
    """The regular expression (unanchored) that ``pattern`` means in the given dialect."""
    out: list[str] = []
    # Where the last closing brace and bracket are: an opening one after them is literal at once, so a
    # pattern of many unclosed ones is read in linear time, not searched again from each.
    last_brace, last_bracket = pattern.rfind("}"), pattern.rfind("]")
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif gitignore and pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            i = _set(pattern, i, out, gitignore) if i < last_bracket else _literal(char, i, out)
        elif char == "{" and not gitignore and i < last_brace:
            end = pattern.index("}", i + 1)
            out.append("(?:" + "|".join(re.escape(part) for part in pattern[i + 1 : end].split(",")) + ")")
            i = end + 1
        elif char == "\\" and gitignore and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _literal(char: str, i: int, out: list[str]) -> int:
    out.append(re.escape(char))
    return i + 1


def _set(pattern: str, i: int, out: list[str], gitignore: bool) -> int:
    """Append the character set that starts at ``pattern[i]`` (a ``[``); the index after it."""
    negators = "!^" if gitignore else "!"
    negate = i + 1 < len(pattern) and pattern[i + 1] in negators
    first = i + 2 if negate else i + 1
    end = pattern.find("]", first + 1 if pattern.startswith("]", first) else first)
    if end == -1:
        out.append(re.escape("["))
        return i + 1
    body = pattern[first:end].replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    if body.startswith("^"):
        body = "\\" + body
    out.append(("[^" if negate else "[") + body + "]")
    return end + 1
