"""Python import graph over workspace files: what a file imports, and who imports it.

The target's own imports are read with ``ast`` (exact). Finding the files that import the target
means looking at every Python file, so those are read with a regex that understands parenthesised
and backslash-continued imports, and only in files that mention the module's last name at all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable

from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = [
    "ModuleMap",
    "absolute_module",
    "importers_of",
    "imports_of",
    "prepare_imports",
]

_FROM = re.compile(r"^[ \t]*from[ \t]+([.\w]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n\\]*(?:\\\n[^\n\\]*)*)", re.MULTILINE)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n\\;]+(?:\\\n[^\n\\;]*)*)", re.MULTILINE)
_SOURCE_ROOTS = ("src/", "lib/", "python/")
_AST_KEY = "imports.ast"
_COMMENT = re.compile(r"#[^\n]*")


class ModuleMap:
    """Dotted module names of the workspace's Python files, and back."""

    def __init__(self, files: Iterable[str]) -> None:
        self.by_module: dict[str, str] = {}
        self.by_path: dict[str, str] = {}
        for path in files:
            if not path.endswith(".py"):
                continue
            module = path[:-3].replace("/", ".")
            if module.endswith(".__init__"):
                module = module[: -len(".__init__")]
            elif module == "__init__":
                continue
            self.by_path[path] = module
            self.by_module.setdefault(module, path)
            for source_root in _SOURCE_ROOTS:
                if path.startswith(source_root):
                    self.by_module.setdefault(module[len(source_root) :], path)

    def module_of(self, path: str) -> str | None:
        """Dotted name of a workspace file (``pkg.sub.mod``), None for non-Python files."""
        module = self.by_path.get(path)
        if module is None:
            return None
        for source_root in _SOURCE_ROOTS:
            prefix = source_root.replace("/", ".")
            if module.startswith(prefix) and self.by_module.get(module[len(prefix) :]) == path:
                return module[len(prefix) :]
        return module

    def resolve(self, module: str, names: Iterable[str] = ()) -> list[str]:
        """Workspace files for ``from module import names`` (``import module`` when names is empty)."""
        names = tuple(names)
        found: list[str] = []
        needs_module = not names  # an imported attribute (not a submodule) lives in the module itself
        for name in names:
            path = self.by_module.get(f"{module}.{name}" if module else name)
            if path is None:
                needs_module = True
            else:
                found.append(path)
        if needs_module and module in self.by_module:
            found.append(self.by_module[module])
        # ``import a.b.c`` also runs a/__init__ and a/b/__init__, but those are rarely what matters.
        return list(dict.fromkeys(found))


def absolute_module(module: str, level: int, importer_module: str, is_package: bool) -> str | None:
    """The absolute module name of a relative import written in ``importer_module``."""
    if level == 0:
        return module
    parts = importer_module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


# An import statement as written: (module, relative level, imported names); level -1 marks ``import a, b``.
_Statement = tuple[str, int, tuple[str, ...]]


def _parsed_imports(text: str) -> list[_Statement] | None:
    """The import statements of a Python source as ``ast`` reads them; None when it does not parse.

    Independent of the file's module name, so it can be cached with the text before the workspace
    (and so the module map) is known.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    statements: list[_Statement] = []
    for node in _import_statements(tree.body):
        if isinstance(node, ast.Import):
            statements.extend((alias.name, -1, ()) for alias in node.names)
        else:
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            statements.append((node.module or "", node.level, names))
    return statements


def _absolute_imports(
    statements: list[_Statement], importer_module: str, is_package: bool
) -> list[tuple[str, tuple[str, ...]]]:
    result: list[tuple[str, tuple[str, ...]]] = []
    for module, level, names in statements:
        if level < 0:
            result.append((module, ()))
            continue
        absolute = absolute_module(module, level, importer_module, is_package)
        if absolute is not None:
            result.append((absolute, names))
    return result


def prepare_imports(index: WorkspaceIndex, path: str) -> None:
    """Parse ``path``'s imports into the index's cache ahead of ``imports_of`` (a cold request does
    this while git still lists the workspace in the background)."""
    index.derived(path, _AST_KEY, _parsed_imports)


def _import_statements(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in the statement tree (inside functions too), in source order.

    Only statement bodies are walked: imports are never inside expressions, and skipping those is
    most of the cost of a full ``ast.walk``.
    """
    found: list[ast.Import | ast.ImportFrom] = []
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
            continue
        children: list[ast.AST] = []
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            value = getattr(node, name, None)
            if isinstance(value, list):
                children.extend(
                    child for child in value if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case)
                )
        stack.extend(reversed(children))  # type: ignore[arg-type]
    return found


def _regex_imports(text: str, importer_module: str, is_package: bool) -> list[tuple[str, tuple[str, ...]]]:
    result: list[tuple[str, tuple[str, ...]]] = []
    position = text.find("import")
    last_line = -1
    while position != -1:
        line_start = text.rfind("\n", 0, position) + 1
        if line_start != last_line:
            last_line = line_start
            from_match = _FROM.match(text, line_start)
            if from_match is not None:
                _add_from(result, from_match, importer_module, is_package)
            else:
                import_match = _IMPORT.match(text, line_start)
                if import_match is not None:
                    for part in import_match.group(1).replace("\\\n", " ").split("#")[0].split(","):
                        name = part.split(" as ")[0].strip()
                        if name and re.fullmatch(r"[\w.]+", name):
                            result.append((name, ()))
        position = text.find("import", position + 6)
    return result


def _add_from(
    result: list[tuple[str, tuple[str, ...]]], match: re.Match[str], importer_module: str, is_package: bool
) -> None:
    raw = match.group(1)
    level = len(raw) - len(raw.lstrip("."))
    module = absolute_module(raw[level:], level, importer_module, is_package)
    if module is None:
        return
    names_text = match.group(2).strip("()").replace("\\\n", " ")
    if "#" in names_text:
        names_text = _COMMENT.sub("", names_text)
    if "\n" in names_text:
        names_text = names_text.replace("\n", ",")
    names = tuple(
        part.split(" as ")[0].strip() for part in names_text.split(",") if (bare := part.strip()) and bare != "*"
    )
    result.append((module, names))


def _regex_reader(module: str, path: str) -> Callable[[str], list[tuple[str, tuple[str, ...]]]]:
    is_package = path.endswith("__init__.py")
    return lambda text: _regex_imports(text, module, is_package)


def imports_of(index: WorkspaceIndex, modules: ModuleMap, path: str) -> list[str]:
    """Workspace files that ``path`` imports (exact, via ``ast``), in a stable order."""
    module = modules.module_of(path)
    if module is None:
        return []
    is_package = path.endswith("__init__.py")
    statements = index.derived(path, _AST_KEY, _parsed_imports)
    pairs: list[tuple[str, tuple[str, ...]]] | None
    if statements is not None:
        pairs = _absolute_imports(statements, module, is_package)
    else:  # no text, or it does not parse: the regex reads what it can
        pairs = index.derived(path, f"imports.fallback:{module}", lambda text: _regex_imports(text, module, is_package))
    found: list[str] = []
    for imported, names in pairs or []:
        found.extend(modules.resolve(imported, names))
    return [item for item in dict.fromkeys(found) if item != path]


def importers_of(
    index: WorkspaceIndex,
    modules: ModuleMap,
    path: str,
    *,
    mentions: tuple[str, Collection[str]] | None = None,
) -> list[str]:
    """Workspace Python files that import ``path``, sorted.

    ``mentions`` may say which tracked files hold a word (``git grep``, on another core): when the
    word is the module's last name, tracked files without it are skipped unread. Untracked files and
    editor overlays, which git does not see, are always read.
    """
    module = modules.module_of(path)
    if module is None:
        return []
    last = module.rsplit(".", 1)[-1]
    holding = mentions[1] if mentions is not None and mentions[0] == last else None
    found: list[str] = []
    for candidate, candidate_module in modules.by_path.items():
        if candidate == path:
            continue
        if holding is not None and candidate not in holding and index.tracked_on_disk(candidate):
            continue  # git read it and found no mention
        text = index.text(candidate)
        if text is None or last not in text:
            continue  # cannot import it without naming it
        pairs = index.derived(candidate, "imports.regex", _regex_reader(candidate_module, candidate))
        for imported, names in pairs or []:
            if path in modules.resolve(imported, names):
                found.append(candidate)
                break
    return sorted(found)
