"""A small ``.gitignore`` matcher for folders that are not git repositories.

Covers what real ignore files use: ``*``, ``?``, ``[...]``, ``**``, a leading ``/`` (anchored),
a trailing ``/`` (folders only), ``!`` (re-include) and comments. Each ``.gitignore`` applies to its
own folder and below, later rules winning, as git does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import regex

__all__ = ["IgnoreRules"]


@dataclass(frozen=True)
class _Rule:
    base: str  # folder of the .gitignore, "" for the root, no trailing slash
    regex: Any  # a compiled ``regex`` pattern: it can be stopped, unlike ``re``
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    """Glob to regex over a slash-separated path, with git's ``**`` meaning."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("/**", index) and index + 3 == len(pattern):
            out.append("/.*")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif char == "*":
            out.append("[^/]*")
            index += 1
        elif char == "?":
            out.append("[^/]")
            index += 1
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
                index += 1
            else:
                body = pattern[index + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                index = end + 1
        elif char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
        else:
            out.append(re.escape(char))
            index += 1
    return "".join(out)


_MATCH_SECONDS = 0.05


class IgnoreRules:
    """Rules gathered from the ``.gitignore`` files met while walking a folder tree."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []

    def add_file(self, base: str, text: str) -> None:
        """Add the rules of the ``.gitignore`` found in folder ``base`` (workspace-relative, "" for root)."""
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            line = line.lstrip("/")
            try:
                compiled = regex.compile(("" if anchored else "(?:.*/)?") + _translate(line) + "$")
            except regex.error:
                continue  # a rule git would not understand either: skipped, the rest still apply
            self._rules.append(_Rule(base.strip("/"), compiled, negate, dir_only))

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        """True when the last matching rule ignores ``relpath``."""
        result = False
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.base:
                if not relpath.startswith(rule.base + "/"):
                    continue
                local = relpath[len(rule.base) + 1 :]
            else:
                local = relpath
            try:
                if rule.regex.match(local, timeout=_MATCH_SECONDS):
                    result = not rule.negate
            except TimeoutError:
                continue  # a pattern built to backtrack without end (``*a*a*a…b``): it matches nothing

        return result
