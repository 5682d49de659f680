"""Where a name the failing test uses is defined in the workspace, and what that definition calls.

Read with ``ast`` and cached on the index with each file's text: a module's top-level names (what it
defines, what it imports, what it star-imports), followed through re-exports to the defining module;
a class's methods only when a test names one.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence

from kimi_lsp.context.imports import ModuleMap, absolute_module
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["callees", "find_definition", "python_tree"]

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
                absolute = absolute_module(node.module or "", node.level, module, is_package)
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
