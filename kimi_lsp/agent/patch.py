"""Applying the model's unified diffs: hunks found by their text, not by their line numbers.

Models get hunk line numbers wrong, drop the space on context lines and drift in whitespace, so each
hunk is located by its context and removed lines, trying in turn: exact, ignoring trailing whitespace,
ignoring indentation (added lines are re-indented to match), and with up to two outer context lines
dropped. The header's line number only breaks ties between several matches. A line inside a hunk with no
``' '``/``'-'``/``'+'`` prefix is read as context when more hunk lines follow it (a non-blank one only
if the header's counts then add up); nothing after it is ever dropped silently. A file's hunks apply
all or none; files are independent. CRLF files stay CRLF. A failing hunk reports the nearest text so the
model can redo it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kimi_lsp.agent.nearest import explain_mismatch
from kimi_lsp.agent.patch_format import FilePatch, FilePatchResult, Hunk, HunkResult, PatchReport, parse_patch
from kimi_lsp.agent.syntax import syntax_problem
from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.paths import relpath_of, resolve_in_root
from kimi_lsp.workspace.reading import read_text
from kimi_lsp.workspace.redact import KEY_REFUSAL, key_lines
from kimi_lsp.workspace.text import write_confined

_MAX_FUZZ = 2


# -- locating a hunk -------------------------------------------------------------------------------

_TIERS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("exact", lambda s: s),
    ("ignoring trailing whitespace", str.rstrip),
    ("ignoring indentation", str.strip),
)


@dataclass(frozen=True)
class _Match:
    start: int
    lines: list[tuple[str, str]]  # the hunk lines used (outer context may be trimmed by fuzz)
    how: str


def _find_all(file_norm: list[str], want: list[str]) -> list[int]:
    if not want:
        return []
    first = want[0]
    n = len(want)
    return [i for i in range(len(file_norm) - n + 1) if file_norm[i] == first and file_norm[i : i + n] == want]


def _trimmed_variants(lines: list[tuple[str, str]]) -> list[tuple[int, list[tuple[str, str]]]]:
    """The hunk with 0..2 outer context lines dropped from each end, least trimmed first."""
    variants = []
    for total in range(0, 2 * _MAX_FUZZ + 1):
        for front in range(0, min(total, _MAX_FUZZ) + 1):
            back = total - front
            if back > _MAX_FUZZ:
                continue
            if any(tag != " " for tag, _ in lines[:front]):
                continue
            if back and any(tag != " " for tag, _ in lines[len(lines) - back :]):
                continue
            kept = lines[front : len(lines) - back]
            if any(tag != "+" and text.strip() for tag, text in kept):
                variants.append((front, kept))
    return variants


def _locate(file_lines: list[str], hunk: Hunk, hint: int | None) -> _Match | None:
    for fuzz_front, kept in _trimmed_variants(hunk.lines):
        old = [text for tag, text in kept if tag != "+"]
        for how, norm in _TIERS:
            starts = _find_all([norm(line) for line in file_lines], [norm(line) for line in old])
            if not starts:
                continue
            target = (hint + fuzz_front) if hint is not None else 0
            start = min(starts, key=lambda s: (abs(s - target), s))
            label = how if fuzz_front == 0 and len(kept) == len(hunk.lines) else f"{how}, outer context dropped"
            return _Match(start, kept, label)
    return None


def _reindent(new_text: str, patch_old: str, file_old: str) -> str:
    patch_ws = patch_old[: len(patch_old) - len(patch_old.lstrip())]
    file_ws = file_old[: len(file_old) - len(file_old.lstrip())]
    if patch_ws == file_ws or not new_text.strip():
        return new_text
    if new_text.startswith(patch_ws):
        return file_ws + new_text[len(patch_ws) :]
    return new_text


def _apply_match(file_lines: list[str], match: _Match) -> tuple[list[str], int]:
    """Replace the matched span; context keeps the file's text, added lines follow its indentation."""
    pos = match.start
    anchor: tuple[str, str] | None = None  # (patch's old line, file's line) to re-indent from
    out: list[str] = []
    for tag, text in match.lines:
        if tag == " ":
            out.append(file_lines[pos])
            if text.strip():
                anchor = (text, file_lines[pos])
            pos += 1
        elif tag == "-":
            if text.strip():
                anchor = (text, file_lines[pos])
            pos += 1
        else:
            if anchor is None:
                anchor = _first_anchor(file_lines, match)
            out.append(_reindent(text, *anchor) if anchor else text)
    return out, pos - match.start


def _first_anchor(file_lines: list[str], match: _Match) -> tuple[str, str] | None:
    pos = match.start
    for tag, text in match.lines:
        if tag == "+":
            continue
        if text.strip():
            return text, file_lines[pos]
        pos += 1
    return None


# -- applying --------------------------------------------------------------------------------------


@dataclass
class _Text:
    lines: list[str]
    eol: str
    final_newline: bool

    @classmethod
    def parse(cls, text: str) -> _Text:
        eol = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
        final = text.endswith("\n")
        lines = text.split("\n")
        if final:
            lines.pop()
        if eol == "\r\n":
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        if text == "":
            lines = []
        return cls(lines, eol, final)

    def render(self) -> str:
        if not self.lines:
            return ""
        return self.eol.join(self.lines) + (self.eol if self.final_newline else "")


def _failure(rel: str, index: int, count: int, hunk: Hunk, lines: list[str]) -> str:
    return explain_mismatch(
        lines,
        hunk.old,
        f"hunk {index} of {count} for {rel} did not match",
        nothing="; no similar text found. Read the file and resend the diff.",
        fix="Rewrite the hunk's context and '-' lines to match the file exactly.",
    )


def _patch_lines(doc: _Text, hunks: list[Hunk], rel: str) -> tuple[list[HunkResult], bool]:
    results: list[HunkResult] = []
    drift = 0  # how far the file has moved relative to the header line numbers
    ok = True
    for index, hunk in enumerate(hunks, start=1):
        old = hunk.old
        if not old:
            # Pure insertion: only the line number can place it (new or empty files too); with no
            # line number (``@@ @@``) the lines are appended at the end of the file.
            if hunk.old_start is None:
                pos = len(doc.lines)
            else:
                base = hunk.old_start + drift if hunk.old_count == 0 else hunk.old_start - 1 + drift
                pos = max(0, min(len(doc.lines), base))
            added = [text for tag, text in hunk.lines if tag == "+"]
            doc.lines[pos:pos] = added
            drift += len(added)
            how = "appended at the end" if hunk.old_start is None else "inserted by line number"
            results.append(HunkResult(index, True, pos + 1, how))
            continue
        hint = hunk.old_start - 1 + drift if hunk.old_start is not None else None
        match = _locate(doc.lines, hunk, hint)
        if match is None:
            results.append(HunkResult(index, False, message=_failure(rel, index, len(hunks), hunk, doc.lines)))
            ok = False
            continue
        replacement, consumed = _apply_match(doc.lines, match)
        if not key_lines(doc.lines).isdisjoint(range(match.start, match.start + consumed)):
            results.append(HunkResult(index, False, message=f"hunk {index} of {len(hunks)}: {KEY_REFUSAL}"))
            ok = False
            continue
        doc.lines[match.start : match.start + consumed] = replacement
        if hunk.old_start is not None:
            drift = match.start + len(replacement) - (hunk.old_start - 1 + len(old))
        how = match.how
        if hunk.unprefixed:
            how += f"; {len(hunk.unprefixed)} line(s) without a prefix read as context"
        results.append(HunkResult(index, True, match.start + 1, how))
        if hunk.new_no_eol:
            doc.final_newline = False
        elif hunk.old_no_eol:
            doc.final_newline = True
    return results, ok


def _describe(results: list[HunkResult]) -> str:
    parts = [f"hunk {r.index} at line {r.line}" + (f" ({r.how})" if r.how != "exact" else "") for r in results]
    return f"{len(results)} hunk(s) applied: " + ", ".join(parts)


def _pick_path(root: Path, raw: str, prefix: str) -> str:
    """Strip git's ``a/``/``b/`` unless the unstripped path is the one that exists."""
    if raw.startswith(prefix):
        stripped = raw[len(prefix) :]
        if not (root / stripped).exists() and (root / raw).exists():
            return raw
        return stripped
    return raw


def _apply_file(root: Path, section: FilePatch, check: Callable[[str, str, str | None], str | None]) -> FilePatchResult:
    old_raw = _pick_path(root, section.old_path, "a/") if section.old_path else None
    new_raw = _pick_path(root, section.new_path, "b/") if section.new_path else None
    label = new_raw or old_raw or "?"
    try:
        old_path = resolve_in_root(root, old_raw) if old_raw else None
        new_path = resolve_in_root(root, new_raw) if new_raw else None
    except ToolError as exc:
        return FilePatchResult(label, "modify", False, message=str(exc))
    old_rel = relpath_of(root, old_path) if old_path else None
    new_rel = relpath_of(root, new_path) if new_path else None
    rel = new_rel or old_rel or label
    action = "create" if old_path is None else "delete" if new_path is None else "modify"
    if old_path and new_path and old_path != new_path:
        action = "rename"
    problem = section.problem()
    if problem:
        return FilePatchResult(rel, action, False, message=problem)
    renamed_from = old_rel if action == "rename" else None
    if new_path is not None and renamed_from and (new_path.exists() or new_path.is_symlink()):
        return FilePatchResult(
            rel,
            action,
            False,
            message=f"cannot rename {old_rel} to {new_rel}: {new_rel} already exists and would be overwritten. "
            f"Patch {new_rel} in place, or delete it first (--- a/{new_rel} / +++ /dev/null)",
        )
    try:
        if old_path is None:
            assert new_path is not None
            return _create(root, new_path, rel, section, check)
        if not old_path.is_file():
            return FilePatchResult(
                rel, action, False, message=f"{old_rel} does not exist; to create it use --- /dev/null"
            )
        original = read_text(root, old_path, rel)
        doc = _Text.parse(original)
        results, ok = _patch_lines(doc, section.hunks, rel)
        if not ok:
            failed = [r for r in results if not r.ok]
            return FilePatchResult(rel, action, False, tuple(results), "\n".join(r.message for r in failed))
        if new_path is None:
            if doc.lines and any(line.strip() for line in doc.lines):
                return FilePatchResult(
                    rel, action, False, tuple(results), "the deletion's '-' lines do not cover the whole file"
                )
            old_path.unlink()
            return FilePatchResult(rel, action, True, tuple(results), "deleted")
        new_text = doc.render()
        problem = check(rel, new_text, original)
        if problem:
            return FilePatchResult(rel, action, False, tuple(results), problem)
        write_confined(root, relpath_of(root, new_path), new_text.encode("utf-8"), mode=_mode_of(old_path))
        if action == "rename":
            old_path.unlink()
        message = _describe(results) + (f"; renamed from {renamed_from}" if renamed_from else "")
        return FilePatchResult(rel, action, True, tuple(results), message, renamed_from)
    except (ToolError, OSError) as exc:
        return FilePatchResult(rel, action, False, message=str(exc))


def _create(
    root: Path, path: Path, rel: str, section: FilePatch, check: Callable[[str, str, str | None], str | None]
) -> FilePatchResult:
    lines = [text for hunk in section.hunks for tag, text in hunk.lines if tag != "-"]
    no_eol = any(hunk.new_no_eol for hunk in section.hunks)
    text = "\n".join(lines) + ("" if no_eol or not lines else "\n")
    if path.exists():
        if path.is_file() and path.read_bytes() == text.encode("utf-8"):
            return FilePatchResult(rel, "create", True, message="already exists with exactly this content")
        return FilePatchResult(
            rel,
            "create",
            False,
            message=f"{rel} already exists; send a diff against its current text (--- a/{rel}) or use WriteFile",
        )
    problem = check(rel, text, None)
    if problem:
        return FilePatchResult(rel, "create", False, message=problem)
    write_confined(root, relpath_of(root, path), text.encode("utf-8"))
    return FilePatchResult(rel, "create", True, message=f"created ({len(lines)} lines)")


def _mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def apply_patch(
    root: Path,
    patch_text: str,
    *,
    check: Callable[[str, str, str | None], str | None] = syntax_problem,
) -> PatchReport:
    """Apply a unified diff (one or more files) under ``root``; never raises for a bad patch.

    ``check(relpath, new_text, old_text)`` may refuse a file's result (default: the Python syntax gate).
    Every path goes through :func:`resolve_in_root`, so nothing outside ``root`` is read or written.
    """
    if not isinstance(patch_text, str) or not patch_text.strip():
        return PatchReport((), "the patch is empty; send a unified diff")
    sections = parse_patch(patch_text)
    if not sections:
        return PatchReport(
            (),
            "no file headers found: a patch needs '--- a/PATH' and '+++ b/PATH' lines before its @@ hunks "
            "(use --- /dev/null to create a file, +++ /dev/null to delete one)",
        )
    results = []
    for section in sections:
        if not section.hunks and section.old_path and section.new_path:
            results.append(FilePatchResult(section.new_path, "modify", False, message="no @@ hunks for this file"))
            continue
        results.append(_apply_file(root, section, check))
    return PatchReport(tuple(results))
