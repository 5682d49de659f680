"""What a failure says about where the bug is: the words it uses (BM25 over the source files), the
names the failing test's own code reaches for, and the definitions its name spells out.

The lexical score is Okapi BM25, written here rather than taken from ``bm25s``: that library's
import alone (numpy and its sparse matrices) took 1.3 s on this machine, three times a whole context
assembly, and we score one query once per request over texts the workspace index already holds.
Term counts are cached on the index with each file's text, so a warm server tokenizes a file once.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kimi_lsp.context.definitions import python_tree
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["TestSource", "bm25_scores", "definitions_named_in", "line_scores", "terms", "test_source"]

_K1 = 1.2
_FOCUS = 3.0  # chosen on the tuned half of tests/bench/bench_localize.py
_B = 0.75
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{1,}")
_PARTS = re.compile(r"[a-z0-9]+|[A-Z][a-z0-9]*")
_TERMS_KEY = "relevance.terms"
_DEFINITIONS_KEY = "relevance.definitions"
_DEFINED = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+(\w+)", re.MULTILINE)
_NAME_PARTS = re.compile(r"[a-z0-9]+|[A-Z][a-z0-9]*|[A-Z]+(?![a-z])")
# Words every Python file and every pytest report is full of: they only dilute a query.
_STOP = frozenset(
    "self cls def return import from none true false assert test tests the and for not with in is as if else "
    "elif try except raise class lambda pass yield print len str int list dict set tuple error py line".split()
)


def terms(text: str) -> list[str]:
    """Lower-cased identifiers of ``text`` and, for ``snake_case``/``camelCase`` ones, their parts."""
    found: list[str] = []
    for word in _WORD.findall(text):
        lowered = word.lower()
        if lowered not in _STOP:
            found.append(lowered)
        if "_" in word.strip("_") or (not word.isupper() and not word.islower()):
            parts = (part.lower() for part in _PARTS.findall(word))
            found.extend(part for part in parts if len(part) > 2 and part not in _STOP)
    return found


@functools.lru_cache(maxsize=1 << 16)
def _word_terms(word: str) -> tuple[str, ...]:
    return tuple(terms(word))  # identifiers repeat across a workspace's files


def _counted(text: str) -> tuple[Counter[str], int]:
    """``terms(text)`` counted; each distinct word is split once, however often it occurs."""
    counts: Counter[str] = Counter()
    for word, times in Counter(_WORD.findall(text)).items():
        for term in _word_terms(word):
            counts[term] += times
    return counts, sum(counts.values())


def bm25_scores(index: WorkspaceIndex, paths: Sequence[str], query: str, focus: str = "") -> dict[str, float]:
    """BM25 score of each of ``paths`` for ``query``, scaled so the best file scores 1 (0 when none match).

    Words of ``focus`` (the failing test's own code) count ``_FOCUS`` times as much as the rest.
    """
    focused = set(terms(focus))
    wanted = set(terms(query)) | focused
    docs: list[tuple[str, Counter[str], int]] = []
    for path in paths:
        counted = index.derived(path, _TERMS_KEY, _counted)
        if counted is not None:
            docs.append((path, counted[0], counted[1]))
    if not docs or not wanted:
        return {}
    average = sum(length for _, _, length in docs) / len(docs) or 1.0
    frequency: Counter[str] = Counter()
    for _, counts, _ in docs:
        frequency.update(counts.keys() & wanted)
    idf = {
        term: math.log(1 + (len(docs) - n + 0.5) / (n + 0.5)) * (_FOCUS if term in focused else 1.0)
        for term, n in frequency.items()
    }
    scores: dict[str, float] = {}
    for path, counts, length in docs:
        norm = _K1 * (1 - _B + _B * length / average)
        score = 0.0
        for term in counts.keys() & idf.keys():
            count = counts[term]
            score += idf[term] * count * (_K1 + 1) / (count + norm)
        if score > 0:
            scores[path] = score
    best = max(scores.values(), default=0.0)
    return {path: score / best for path, score in scores.items()} if best else {}


def line_scores(text: str, query: str, top: int = 4) -> list[int]:
    """The 1-based lines of ``text`` that share the most distinct query words, best first."""
    wanted = set(terms(query))
    if not wanted:
        return []
    scored = []
    for number, line in enumerate(text.split("\n"), start=1):
        hits = wanted.intersection(term for word in _WORD.findall(line) for term in _word_terms(word))
        if hits:
            # Definitions that name query words are what an excerpt should be centred on.
            bonus = 1 if line.lstrip().startswith(("def ", "class ", "async def ")) else 0
            scored.append((len(hits) + bonus, -number))
    scored.sort(reverse=True)
    return [-negative for _, negative in scored[:top]]


@dataclass
class TestSource:
    """A failing test's code: its text, the dotted names it uses, and the modules it imports."""

    text: str = ""
    names: list[str] = field(default_factory=list)  # ``pkg.func``, ``mod.Class.method``, ``helper``
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local name -> (module, attr)


def _find_function(tree: ast.Module, chain: Sequence[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    body: Iterable[ast.stmt] = tree.body
    found: ast.AST | None = None
    for name in chain:
        found = next(
            (
                node
                for node in body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name
            ),
            None,
        )
        if found is None:
            return None
        body = found.body
    return found if isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef) else None


def _imports(nodes: Iterable[ast.AST], into: dict[str, tuple[str, str | None]], package: str) -> None:
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                into[local] = (alias.name if alias.asname else alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: max(len(package.split(".")) - node.level + 1, 0)]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                if alias.name != "*":
                    into[alias.asname or alias.name] = (module, alias.name)


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call):  # ``Schema().dump``: the class, then the method
        inner = _dotted(node.func)
        return ".".join([inner, *reversed(parts)]) if inner else None
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def test_source(index: WorkspaceIndex, path: str, test_id: str, line: int | None, package: str = "") -> TestSource:
    """The failing test's function (found by name, else by ``line``) and the names it uses."""
    tree = python_tree(index, path)
    text = index.text(path)
    if tree is None or text is None:
        return TestSource()
    chain = [part.split("[", 1)[0] for part in test_id.split("::")[1:]]
    function = _find_function(tree, chain) if chain else None
    if function is None and line is not None:
        function = next(
            (
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.lineno <= line <= (node.end_lineno or node.lineno)
            ),
            None,
        )
    if function is None:
        return TestSource()
    source = TestSource(text="\n".join(text.split("\n")[function.lineno - 1 : function.end_lineno]))
    _imports(tree.body, source.imports, package)
    _imports(ast.walk(function), source.imports, package)
    seen: dict[str, None] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute | ast.Name):
            dotted = _dotted(node)
            if dotted and dotted.split(".")[0] in source.imports:
                seen.setdefault(dotted, None)
    # Longest first within a root, so ``tomlkit.parse`` is not shadowed by a bare ``tomlkit``.
    source.names = sorted(seen, key=lambda name: (-name.count("."), name))
    return source


def _name_parts(name: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in _NAME_PARTS.findall(name))


def _definitions(tree: ast.Module) -> list[tuple[tuple[str, ...], int, int]]:
    """Every class and function of a parsed Python source, methods too: (name's parts, first, last line).

    Only statement bodies are walked: definitions are never inside expressions."""
    found = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((_name_parts(node.name), node.lineno, node.end_lineno or node.lineno))
        for name in ("body", "orelse", "finalbody", "handlers"):
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(child for child in value if isinstance(child, ast.stmt | ast.excepthandler))
    return found


def definitions_named_in(index: WorkspaceIndex, path: str, test_name: str) -> list[tuple[int, int]]:
    """Line spans of the classes and functions of ``path`` that a test's name spells out.

    ``test_skip_to_honours_ignored_comments`` names ``SkipTo`` and ``skip_to``: the words of the
    definition's name, in order, among the test's. One-word names shorter than four letters
    (``And``, ``get``) would match almost any test and are left out.
    """
    if not path.endswith(".py"):
        return []
    wanted = _name_parts(test_name.split("[", 1)[0])
    if wanted[:1] == ("test",):
        wanted = wanted[1:]

    def named(parts: tuple[str, ...]) -> bool:
        if not parts or (len(parts) == 1 and len(parts[0]) < 4):
            return False
        size = len(parts)
        return any(wanted[start : start + size] == parts for start in range(len(wanted) - size + 1))

    text = index.text(path) or ""
    # Parsed only when a definition's name matches: most files have none.
    if not any(named(_name_parts(name)) for name in _DEFINED.findall(text)):
        return []
    tree = python_tree(index, path)
    found = index.derived(path, _DEFINITIONS_KEY, lambda _text: _definitions(tree)) if tree is not None else None
    return [(first, last) for parts, first, last in found or () if named(parts)]
