"""The lint gate: an edit that turns a parsing Python file into one that no longer compiles is refused.

Only breakage the edit introduces is refused: a file that did not compile before may be edited in steps.
The message shows the error and the numbered lines around it, so the model can redo the edit.
"""

from __future__ import annotations

import warnings

from kimi_lsp.workspace.redact import KEY_MARK, key_lines

CONTEXT = 3


def compile_error(source: str, relpath: str) -> SyntaxError | None:
    """The error ``compile`` raises for ``source`` (ValueError for NUL bytes included), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning (invalid escapes) is not an error
        try:
            compile(source, relpath, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return exc
        except ValueError as exc:  # "source code string cannot contain null bytes"
            return SyntaxError(str(exc))
    return None


def numbered(lines: list[str], first: int, last: int, mark: int | None = None) -> str:
    """Lines ``first..last`` (1-based, inclusive) of a whole file's ``lines``, numbered like ``cat -n``; ``mark``
    gets an arrow. Lines inside a private key block are shown as a mark: every excerpt a tool prints is made here."""
    first = max(first, 1)
    last = min(last, len(lines))
    hidden = key_lines(lines[:last])
    out = []
    for number in range(first, last + 1):
        arrow = ">" if number == mark else " "
        text = KEY_MARK if number - 1 in hidden else lines[number - 1]
        out.append(f"{arrow}{number:5}\t{text}")
    return "\n".join(out)


def syntax_problem(relpath: str, new_source: str, old_source: str | None) -> str | None:
    """A message refusing the edit, or None when it may be written.

    Non-``.py`` files always pass; so does a file whose ``old_source`` did not compile either.
    """
    if not relpath.endswith((".py", ".pyi")):
        return None
    error = compile_error(new_source, relpath)
    if error is None:
        return None
    if old_source is not None and compile_error(old_source, relpath) is not None:
        return None
    lines = new_source.replace("\r\n", "\n").split("\n")
    where = ""
    if error.lineno:
        where = f" at line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
        window = numbered(lines, error.lineno - CONTEXT, error.lineno + CONTEXT, mark=error.lineno)
    else:
        window = ""
    message = (
        f"edit refused: it would leave {relpath} with a syntax error{where}: {error.msg or error}. "
        "The file is unchanged. Lines around the error as the edit would have left them:\n"
    )
    return message + window
