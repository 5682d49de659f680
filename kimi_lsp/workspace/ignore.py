"""A small ``.gitignore`` matcher for folders that are not git repositories.

Covers what real ignore files use: ``*``, ``?``, ``[...]``, ``**``, a leading ``/`` (anchored),
a trailing ``/`` (folders only), ``!`` (re-include) and comments. Each ``.gitignore`` applies to its
own folder and below, later rules winning, as git does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import regex

from kimi_lsp.workspace.globs import glob_regex

__all__ = ["IgnoreRules"]


@dataclass(frozen=True)
class _Rule:
    base: str  # folder of the .gitignore, "" for the root, no trailing slash
    regex: Any  # a compiled ``regex`` pattern: it can be stopped, unlike ``re``
    negate: bool
    dir_only: bool


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
                compiled = regex.compile(("" if anchored else "(?:.*/)?") + glob_regex(line, gitignore=True) + "$")
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
