"""Rendering of the context prompt's pieces. Pure functions: the same input gives the same bytes.

The prompt reads, in order: header, files, repository map, recent commits, working tree diff,
test results, diagnostics, task (see ``assemble._SECTION_ORDER`` for why). The task and the test
run are each stated once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kimi_lsp.context.failures import TestReport
from kimi_lsp.context.git import Commit

__all__ = [
    "HEADER",
    "MAX_LINE_CHARS",
    "cut_long_lines",
    "fence_for",
    "map_dir_chars",
    "map_file_chars",
    "render_commits",
    "render_diagnostics",
    "render_excerpt",
    "render_map_dir",
    "render_map_file",
    "render_section_title",
    "render_test_report",
    "render_whole",
]

MAX_LINE_CHARS = 1000  # longer lines (minified or generated text) are cut: they cost tokens and teach nothing

HEADER = (
    "# Workspace context\n\n"
    "Files from the user's workspace, chosen for the task at the end. Paths are relative to the workspace "
    "root. Excerpts show 1-based line numbers; outlines list `line signature`.\n\n"
)

_LANGUAGES = {
    "py": "python",
    "pyi": "python",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "jsx",
    "ts": "typescript",
    "tsx": "tsx",
    "go": "go",
    "rs": "rust",
    "java": "java",
    "kt": "kotlin",
    "c": "c",
    "h": "c",
    "cc": "cpp",
    "cpp": "cpp",
    "hpp": "cpp",
    "cs": "csharp",
    "rb": "ruby",
    "php": "php",
    "sh": "bash",
    "md": "markdown",
    "json": "json",
    "toml": "toml",
    "yaml": "yaml",
    "yml": "yaml",
    "html": "html",
    "css": "css",
    "sql": "sql",
    "lua": "lua",
    "swift": "swift",
}
_BACKTICKS = re.compile(r"`{3,}")


def render_section_title(title: str) -> str:
    return f"## {title}\n\n"


def _language(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return _LANGUAGES.get(name.rsplit(".", 1)[-1].lower(), "") if "." in name else ""


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks inside ``text``."""
    if "```" not in text:
        return "```"  # the usual case, found by a plain substring search instead of the regex
    longest = max((len(match) for match in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def cut_long_lines(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` with every line longer than ``limit`` cut, saying how much was left out."""
    if len(text) <= limit or max(map(len, text.split("\n"))) <= limit:
        return text
    return "\n".join(
        line if len(line) <= limit else f"{line[:limit]} …[line cut: {len(line) - limit} more characters]"
        for line in text.split("\n")
    )


def _file_heading(path: str, reason: str, detail: str, lossy: bool) -> str:
    note = " (not valid UTF-8: undecodable bytes shown as �)" if lossy else ""
    return f"### {path} — {reason}; {detail}{note}\n\n"


def render_whole(path: str, text: str, reason: str, lossy: bool = False) -> str:
    """A whole file in a fenced block."""
    body = cut_long_lines(text)
    if body and not body.endswith("\n"):
        body += "\n"
    fence = fence_for(body)
    heading = _file_heading(path, reason, f"whole file, {body.count(chr(10))} lines", lossy)
    return f"{heading}{fence}{_language(path)}\n{body}{fence}\n\n"


def render_excerpt(
    path: str,
    lines: Sequence[str],
    windows: Sequence[tuple[int, int]],
    outline: Sequence[str],
    reason: str,
    lossy: bool = False,
) -> str:
    """Numbered windows of a file (1-based, inclusive ranges) after the file's outline."""
    total = len(lines)
    spans = ", ".join(f"{start}-{end}" for start, end in windows)
    detail = f"excerpt, lines {spans} of {total}" if windows else f"outline only, {total} lines"
    parts = [_file_heading(path, reason, detail, lossy)]
    if outline:
        parts.append("Outline:\n")
        parts.extend(f"{entry}\n" for entry in outline)
        parts.append("\n")
    if windows:
        width = len(str(windows[-1][1]))
        chunks: list[str] = []
        previous_end = 0
        for start, end in windows:
            if start > previous_end + 1:
                chunks.append("…\n")
            for number in range(start, end + 1):
                chunks.append(f"{number:>{width}}| {cut_long_lines(lines[number - 1])}\n")
            previous_end = end
        if previous_end < total:
            chunks.append("…\n")
        body = "".join(chunks)
        fence = fence_for(body)
        parts.append(f"{fence}{_language(path)}\n{body}{fence}\n")
    parts.append("\n")
    return "".join(parts)


def render_map_dir(folder: str) -> str:
    """A folder line of the repository map (``""`` is the workspace root)."""
    return f"{folder or '.'}/\n"


def render_map_file(name: str, outline: Sequence[str] = ()) -> str:
    """A file line of the repository map, with its outline when there is room for it."""
    if not outline:
        return f"  {name}\n"
    return f"  {name}\n" + "".join(f"    {entry}\n" for entry in outline)


def map_dir_chars(folder: str) -> int:
    """``len(render_map_dir(folder))`` without building the line (the map sizes thousands)."""
    return len(folder or ".") + 2


def map_file_chars(name: str) -> int:
    """``len(render_map_file(name))`` without building the line."""
    return len(name) + 3


def render_commits(commits: Sequence[Commit]) -> str:
    return (
        "".join(
            f"- {commit.sha} {commit.date} {commit.author}: {commit.subject}"
            + (f" ({', '.join(commit.paths[:8])}{' …' if len(commit.paths) > 8 else ''})" if commit.paths else "")
            + "\n"
            for commit in commits
        )
        + "\n"
    )


def render_test_report(report: TestReport, output: str) -> str:
    """The test run stated once: its counts (when a runner summary was recognised), then its output."""
    parts: list[str] = []
    if report.parsed:
        parts.append(
            f"passed {report.passed}, failed {report.failed}, errors {report.errors}, skipped {report.skipped}\n\n"
        )
    if output:
        fence = fence_for(output)
        parts.append(f"{fence}\n{cut_long_lines(output, 400)}\n{fence}\n")
    parts.append("\n")
    return "".join(parts)


def render_diagnostics(items: Sequence[tuple[str, int, str, str | None, str | None]]) -> str:
    """``(path, line, message, source, severity)`` as one bullet each."""
    lines = []
    for path, line, message, source, severity in items:
        tags = " ".join(f"[{tag}]" for tag in (severity, source) if tag)
        text = " ".join(message.split())
        lines.append(f"- {path}:{line} {tags + ' ' if tags else ''}{text}\n")
    return "".join(lines) + "\n"
