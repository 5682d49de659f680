"""Git-style unified diffs of one file's old and new bytes (``diff --git a/x b/x``, ``/dev/null``, binary)."""

from __future__ import annotations

import difflib

CONTEXT_LINES = 3
_NO_EOL = "\\ No newline at end of file\n"


def is_binary(data: bytes) -> bool:
    """True for bytes that are not UTF-8 text (or hold a NUL, as git judges)."""
    if b"\x00" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _split(text: str) -> list[str]:
    """Lines with their endings; only ``\\n`` ends a line (``\\r`` stays part of a CRLF line)."""
    if not text:
        return []
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _emit(line: str, prefix: str) -> str:
    return prefix + line if line.endswith("\n") else f"{prefix}{line}\n{_NO_EOL}"


def _hunks(old: list[str], new: list[str]) -> list[str]:
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(_emit(line, " ") for line in old[a1:a2])
                continue
            out.extend(_emit(line, "-") for line in old[a1:a2])
            out.extend(_emit(line, "+") for line in new[b1:b2])
    return out


def _range(start: int, length: int) -> str:
    first = start + 1 if length else start
    return str(first) if length == 1 else f"{first},{length}"


def file_diff(path: str, old: bytes | None, new: bytes | None, *, mode: str = "100644") -> str:
    """The git-style diff turning ``old`` into ``new`` (None = file absent); empty when they are equal."""
    if old == new:
        return ""
    header = [f"diff --git a/{path} b/{path}\n"]
    if old is None:
        header.append(f"new file mode {mode}\n")
    elif new is None:
        header.append(f"deleted file mode {mode}\n")
    minus = "/dev/null" if old is None else f"a/{path}"
    plus = "/dev/null" if new is None else f"b/{path}"
    if is_binary(old or b"") or is_binary(new or b""):
        return "".join([*header, f"Binary files {minus} and {plus} differ\n"])
    old_lines = _split((old or b"").decode("utf-8"))
    new_lines = _split((new or b"").decode("utf-8"))
    return "".join([*header, f"--- {minus}\n", f"+++ {plus}\n", *_hunks(old_lines, new_lines)])
