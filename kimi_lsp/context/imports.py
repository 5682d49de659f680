"""Python import graph over workspace files: what a file imports, and who imports it.

The target's own imports are read with ``ast`` (exact). Finding the files that import the target
means looking at every Python file, so those are read with a regex that understands parenthesised
and backslash-continued imports, and only in files that mention the module's last name at all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable, Sequence

from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = [
    "ModuleMap",
    "callees",
    "find_definition",
    "importers_of",
    "imports_of",
    "prepare_imports",
    "python_tree",
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


def _absolute(module: str, level: int, importer_module: str, is_package: bool) -> str | None:
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
        absolute = _absolute(module, level, importer_module, is_package)
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
    module = _absolute(raw[level:], level, importer_module, is_package)
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


# A module's top-level names: ("def", line, end line, names its body uses) for what it defines,
# ("from", absolute module, attribute) for what it imports, and "*" for its star-imported modules.
_Symbols = dict[str, tuple[str, int, int, tuple[str, ...]] | tuple[str, str, str | None]]
_SYMBOLS_KEY = "imports.symbols"
_TREE_KEY = "python.tree"
_METHODS_KEY = "imports.methods"


def _symbols_reader(module: str, is_package: bool) -> Callable[[str], _Symbols | None]:
    def read(text: str) -> _Symbols | None:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        table: _Symbols = {}
        stars: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                # What a function calls says where its work is done; a class body names everything.
                walked = ast.walk(node) if not isinstance(node, ast.ClassDef) else ()
                used = tuple(dict.fromkeys(n.id for n in walked if isinstance(n, ast.Name)))
                table[node.name] = ("def", node.lineno, node.end_lineno or node.lineno, used)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        table.setdefault(target.id, ("def", node.lineno, node.end_lineno or node.lineno, ()))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    table[local] = ("from", alias.name if alias.asname else local, None)
            elif isinstance(node, ast.ImportFrom):
                absolute = _absolute(node.module or "", node.level, module, is_package)
                if absolute is None:
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        stars.append(absolute)
                    else:
                        table.setdefault(alias.asname or alias.name, ("from", absolute, alias.name))
        if stars:
            table["*"] = ("from", ",".join(stars), None)
        return table

    return read


def python_tree(index: WorkspaceIndex, path: str) -> ast.Module | None:
    """``path`` parsed, cached with its text (one parse serves every reader); None when it does not parse."""

    def parse(text: str) -> ast.Module | None:
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None

    return index.derived(path, _TREE_KEY, parse)


def _method(index: WorkspaceIndex, path: str, chain: str) -> tuple[str, int, int, tuple[str, ...]] | None:
    """``Class.method`` of ``path``, read only when a test names one."""
    tree = python_tree(index, path)
    if tree is None:
        return None
    methods = index.derived(path, _METHODS_KEY, lambda _text: _class_methods(tree))
    return (methods or {}).get(chain)


def _class_methods(tree: ast.Module) -> dict[str, tuple[str, int, int, tuple[str, ...]]]:
    found: dict[str, tuple[str, int, int, tuple[str, ...]]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for name, entry in _methods(node).items():
                found[f"{node.name}.{name}"] = entry
    return found


def _methods(node: ast.ClassDef, depth: int = 3) -> dict[str, tuple[str, int, int, tuple[str, ...]]]:
    """A class's methods, each with the names its body uses and those of the methods it calls on
    ``self`` (to ``depth`` calls deep): ``from_string`` hands the work to ``self.compile``, which
    hands it to ``self._parse``, which names the ``Parser`` that does it."""
    own: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, list[str], list[str]]] = {}
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            names, calls = [], []
            for child in ast.walk(item):
                if isinstance(child, ast.Name):
                    names.append(child.id)
                elif (
                    isinstance(child, ast.Attribute)
                    and isinstance(child.value, ast.Name)
                    and child.value.id in ("self", "cls")
                ):
                    calls.append(child.attr)
            own[item.name] = (item, names, calls)
    table = {}
    for name, (item, names, calls) in own.items():
        used = dict.fromkeys(names)
        seen, frontier = {name}, calls
        for _ in range(depth):
            following = []
            for call in frontier:
                if call in own and call not in seen:
                    seen.add(call)
                    used.update(dict.fromkeys(own[call][1]))
                    following.extend(own[call][2])
            frontier = following
        table[name] = ("def", item.lineno, item.end_lineno or item.lineno, tuple(used))
    return table


def _symbols(index: WorkspaceIndex, modules: ModuleMap, path: str) -> _Symbols | None:
    module = modules.module_of(path) or ""
    return index.derived(path, _SYMBOLS_KEY, _symbols_reader(module, path.endswith("__init__.py")))


def find_definition(
    index: WorkspaceIndex, modules: ModuleMap, module: str, names: Sequence[str], depth: int = 6
) -> tuple[str, int, int, tuple[str, ...]] | None:
    """Where ``module.names[0]`` (then ``.names[1]``…) is defined in the workspace, following
    re-exports (``from ._make import attrs`` in a package's ``__init__``) to the defining module.

    Returns ``(path, first line, last line, names the definition uses)``; a module itself is
    ``(path, 1, 1, ())``. None when it is not workspace code.
    """
    names = list(names)
    while names and f"{module}.{names[0]}" in modules.by_module:  # a submodule, not an attribute
        module = f"{module}.{names.pop(0)}"
    path = modules.by_module.get(module)
    if path is None:
        return None
    if not names:
        return (path, 1, 1, ())
    table = _symbols(index, modules, path) or {}
    entry = table.get(names[0])
    if entry is not None and entry[0] == "def" and len(names) > 1:
        entry = _method(index, path, ".".join(names[:2])) or entry  # a class's method
    if entry is None and "*" in table and depth > 0:
        for star in str(table["*"][1]).split(","):
            found = find_definition(index, modules, star, names, depth - 1)
            if found is not None:
                return found
        return None
    if entry is None:
        return None
    if entry[0] == "def":
        _, first, last, used = entry  # type: ignore[misc]
        return (path, first, last, used)
    if depth <= 0:
        return None
    _, source, attribute = entry  # type: ignore[misc]
    rest = names[1:]
    target = [attribute, *rest] if attribute else rest
    return find_definition(index, modules, str(source), target, depth - 1)


def callees(index: WorkspaceIndex, modules: ModuleMap, path: str, used: Iterable[str]) -> list[tuple[str, int, int]]:
    """Definitions (in other workspace files) of the imported names a definition in ``path`` uses."""
    table = _symbols(index, modules, path) or {}
    found: list[tuple[str, int, int]] = []
    for name in used:
        entry = table.get(name)
        if entry is None or entry[0] != "from":
            continue
        _, source, attribute = entry  # type: ignore[misc]
        hit = find_definition(index, modules, str(source), [attribute] if attribute else [], depth=4)
        if hit is not None and hit[0] != path:
            found.append(hit[:3])
    return found
