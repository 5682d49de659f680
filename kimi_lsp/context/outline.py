"""Compact outlines of source files: classes, functions and their signatures, with line numbers.

Python goes through ``ast`` (falling back to a regex on files that do not parse); other languages
through one cheap regex each. An outline line reads ``"  42 def name(args) -> ret"``, indented by
nesting, so the model can ask for exact lines later.
"""

from __future__ import annotations

import ast
import re

__all__ = ["MAX_OUTLINE_LINES", "outline_of"]

MAX_OUTLINE_LINES = 400
_MAX_SIGNATURE = 160
_MAX_LINE_FOR_SOURCE = 2000  # longer lines mean minified or generated text: no outline

_JS = re.compile(
    r"^(\s*)(?:export\s+(?:default\s+)?)?(?:(?:async\s+)?function\s*\*?\s*[\w$]+\s*\(|(?:abstract\s+)?class\s+[\w$]+"
    r"|interface\s+\w+|type\s+\w+\s*=|enum\s+\w+|(?:const|let|var)\s+[\w$]+\s*=\s*(?:async\s*)?(?:\([^)]*\)|[\w$]+)\s*=>)"
)
_JS_METHOD = re.compile(
    r"^(\s+)(?:(?:public|private|protected|static|async|get|set|readonly)\s+)*[\w$]+\s*\([^;]*\)\s*[:{]"
)
_GO = re.compile(r"^()(?:func\s|type\s+\w+\s)")
_RUST = re.compile(
    r"^(\s*)(?:pub(?:\([\w:]+\))?\s+)?(?:async\s+|const\s+|unsafe\s+|extern\s+\"\w+\"\s+)*"
    r"(?:fn|struct|enum|trait|impl|mod|type|union)\b"
)
_JVM = re.compile(
    r"^(\s*)(?:(?:public|private|protected|internal|static|final|abstract|sealed|open|override|suspend|data|"
    r"async|virtual|partial|inline)\s+)*(?:class|interface|enum|record|object|struct|fun|def)\s+\w+"
    r"|^(\s+)(?:(?:public|private|protected|static|final|abstract|synchronized|override|async|virtual)\s+)+"
    r"[\w<>\[\],.? ]+\s+\w+\s*\("
)
_C = re.compile(r"^()(?:[A-Za-z_][\w\s\*&:<>,]*[\s\*&])?[A-Za-z_][\w:~]*\s*\([^;]*\)?\s*(?:const\s*)?\{?\s*$")
_C_TYPE = re.compile(r"^(\s*)(?:typedef\s+)?(?:struct|class|enum|union|namespace)\s+\w+[^;]*$")
_RUBY = re.compile(r"^(\s*)(?:def|class|module)\s+\S")
_PHP = re.compile(
    r"^(\s*)(?:(?:public|private|protected|static|abstract|final)\s+)*(?:function|class|interface|trait)\s+\w+"
)
_SHELL = re.compile(r"^()(?:function\s+)?[\w-]+\s*\(\)\s*\{?")
_MARKDOWN = re.compile(r"^()#{1,3}\s+\S")
_PY_FALLBACK = re.compile(r"^(\s*)(?:async\s+def|def|class)\s+\w+")
_PY_FAST = re.compile(r"\n[ \t]*(?:def|class|async[ \t]+def)[ \t]+\w[^\n]*")

# Each family of languages once, with every suffix it goes by.
_BY_SUFFIX: dict[str, tuple[re.Pattern[str], ...]] = {
    suffix: patterns
    for suffixes, patterns in (
        ((".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx"), (_JS, _JS_METHOD)),
        ((".go",), (_GO,)),
        ((".rs",), (_RUST,)),
        ((".java", ".kt", ".kts", ".scala", ".cs", ".swift"), (_JVM,)),
        ((".c", ".h", ".cc", ".cpp", ".hpp"), (_C_TYPE, _C)),
        ((".rb",), (_RUBY,)),
        ((".php",), (_PHP,)),
        ((".sh", ".bash"), (_SHELL,)),
        ((".md",), (_MARKDOWN,)),
        ((".rst",), ()),
        ((".pyi",), (_PY_FALLBACK,)),
    )
    for suffix in suffixes
}
_C_KEYWORDS = re.compile(r"^\s*(?:if|for|while|switch|return|else|do|case|sizeof|catch)\b")


def outline_of(relpath: str, text: str, *, fast: bool = False) -> tuple[str, ...]:
    """The outline of ``text`` (the content of ``relpath``), empty for files with nothing to outline.

    ``fast`` reads Python with a line regex instead of ``ast`` (ten times cheaper, for the repository
    map over every file); multi-line signatures are then shown by their first line.
    """
    suffix = relpath[relpath.rfind(".") :].lower() if "." in relpath.rsplit("/", 1)[-1] else ""
    if suffix == ".py":
        return _fast_python_outline(text) if fast else _python_outline(text)
    patterns = _BY_SUFFIX.get(suffix)
    if not patterns:
        return ()
    return _regex_outline(text, patterns, c_like=suffix in (".c", ".h", ".cc", ".cpp", ".hpp"))


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SIGNATURE else text[: _MAX_SIGNATURE - 1] + "…"


def _python_outline(text: str) -> tuple[str, ...]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _regex_outline(text, (_PY_FALLBACK,), c_like=False)
    lines = text.splitlines()
    out: list[str] = []

    def visit(body: list[ast.stmt], depth: int) -> None:
        for node in body:
            if len(out) >= MAX_OUTLINE_LINES:
                return
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                # The signature is the source from the def line up to where the body starts.
                end = node.body[0].lineno - 1 if node.body else node.lineno
                end = max(node.lineno, min(end, node.lineno + 12))
                source = " ".join(lines[node.lineno - 1 : end]).strip()
                colon = source.rfind(":")
                if colon > 0 and source.endswith(":"):
                    source = source[:colon]
                elif ":" in source and end > node.lineno and not source.endswith(")"):
                    source = source.rsplit(":", 1)[0]
                out.append(f"{node.lineno:>5} {'  ' * depth}{_cut(source)}")
                if isinstance(node, ast.ClassDef):
                    visit(node.body, depth + 1)

    visit(tree.body, 0)
    return tuple(out)


def _fast_python_outline(text: str) -> tuple[str, ...]:
    """def/class lines found by one regex scan over the whole text (no per-line Python loop).

    The pattern starts with a newline (the text gets one in front) rather than ``^``: a literal
    first character lets the regex engine jump from line to line instead of trying every character.
    """
    out: list[str] = []
    padded = "\n" + text
    count = padded.count
    line = 0
    previous = 0
    for match in _PY_FAST.finditer(padded):
        start, end = match.span()
        line += count("\n", previous, start + 1)
        previous = start + 1
        if end - start - 1 > _MAX_LINE_FOR_SOURCE:
            continue
        source = padded[start + 1 : end]
        body = source.lstrip(" \t")
        indent = len(source) - len(body)
        if indent and "\t" in source[:indent]:
            indent = len(source[:indent].expandtabs(4))
        out.append(f"{line:>5} {'  ' * min(indent // 4, 6)}{_cut(body.rstrip().removesuffix(':'))}")
        if len(out) >= MAX_OUTLINE_LINES:
            break
    return tuple(out)


def _regex_outline(text: str, patterns: tuple[re.Pattern[str], ...], *, c_like: bool) -> tuple[str, ...]:
    out: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > _MAX_LINE_FOR_SOURCE:
            continue
        for pattern in patterns:
            match = pattern.match(line)
            if match is None:
                continue
            if c_like and _C_KEYWORDS.match(line):
                break
            indent = len(line) - len(line.lstrip())
            depth = min(indent // 2, 6)
            signature = line.strip().rstrip("{").rstrip().removesuffix(":")
            out.append(f"{number:>5} {'  ' * depth}{_cut(signature)}")
            break
        if len(out) >= MAX_OUTLINE_LINES:
            break
    return tuple(out)
