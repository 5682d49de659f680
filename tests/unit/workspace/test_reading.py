"""Tool reads a hostile workspace cannot turn: FIFOs, links swapped under a reader, huge files."""

from __future__ import annotations

import asyncio
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.testing import tool_call as call
from kimi_lsp.workspace.reading import EDIT_MAX_BYTES


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (tmp_path / "outside.txt").write_text("OUTSIDE-CONTENT add\n")
    return root


@pytest.mark.timeout(30)
async def test_read_file_and_grep_on_a_fifo_answer_at_once(ws: Path) -> None:
    os.mkfifo(ws / "pkg" / "pipe.py")  # no writer will ever come: a blocking open would wait for ever
    box = Toolbox(ws, test_command=None)
    read = await asyncio.wait_for(box.run(call("ReadFile", {"path": "pkg/pipe.py"})), 10)
    assert not read.ok and "not a regular file" in read.text
    grep = await asyncio.wait_for(box.run(call("Grep", {"pattern": "add"})), 10)
    assert grep.ok and "pkg/calc.py:1: def add(a, b):" in grep.text
    grep_one = await asyncio.wait_for(box.run(call("Grep", {"pattern": "add", "path": "pkg/pipe.py"})), 10)
    assert "no matches" in grep_one.text
    edit = await asyncio.wait_for(
        box.run(call("StrReplaceFile", {"path": "pkg/pipe.py", "edit": {"old": "a", "new": "b"}})), 10
    )
    assert not edit.ok and "not a regular file" in edit.text


@pytest.mark.timeout(120)
async def test_a_link_swapped_in_while_reading_never_yields_outside_content(ws: Path) -> None:
    target = ws / "pkg" / "data.txt"
    outside = ws.parent / "outside.txt"
    stop = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        spare = ws / "pkg" / ".spare"
        while not stop.is_set():
            spare.write_text("inside content\n")
            os.replace(spare, target)  # a regular file...
            os.symlink(outside, spare)
            os.replace(spare, target)  # ...then, atomically, a link leading out
            swaps += 1

    target.write_text("inside content\n")
    box = Toolbox(ws, test_command=None)
    worker = threading.Thread(target=swapper, daemon=True)
    worker.start()
    try:
        results = [await box.run(call("ReadFile", {"path": "pkg/data.txt"})) for _ in range(1000)]
        greps = [await box.run(call("Grep", {"pattern": "CONTENT|content", "path": "pkg"})) for _ in range(200)]
    finally:
        stop.set()
        worker.join()
    assert swaps > 100  # the race really ran
    assert not [r.text for r in results + greps if "OUTSIDE" in r.text]
    assert any(r.ok and "inside content" in r.text for r in results)


async def test_a_window_of_a_huge_file_costs_a_window_not_the_file(ws: Path) -> None:
    big = ws / "big.log"
    line = b"x" * 99 + b"\n"
    big.write_bytes(line * (48 * 10_486))  # ~48 MiB: 503,328 lines
    box = Toolbox(ws, test_command=None)
    tracemalloc.start()
    try:
        result = await box.run(call("ReadFile", {"path": "big.log", "line_offset": 300_000, "n_lines": 5}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result.text
    assert "big.log: lines 300000-300004 of 503328" in result.text
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 48 MiB file"


async def test_a_file_without_newlines_is_cut_not_loaded_whole(ws: Path) -> None:
    (ws / "one_line.min.js").write_bytes(b"a" * (16 * 1024 * 1024))
    box = Toolbox(ws, test_command=None)
    tracemalloc.start()
    try:
        result = await box.run(call("ReadFile", {"path": "one_line.min.js"}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "[line cut: 16777216 characters]" in result.text and "lines 1-1 of 1" in result.text
    assert peak < 4 * 1024 * 1024


async def test_edits_refuse_files_over_the_edit_limit_and_say_how_to_read_them(ws: Path) -> None:
    (ws / "huge.txt").write_bytes(b"line\n" * (EDIT_MAX_BYTES // 5 + 10))
    box = Toolbox(ws, test_command=None)
    edit = await box.run(call("StrReplaceFile", {"path": "huge.txt", "edit": {"old": "line", "new": "x"}}))
    assert not edit.ok and "limit for editing" in edit.text and "line_offset" in edit.text


async def test_windows_count_lines_right_at_chunk_edges_and_crlf(ws: Path) -> None:
    body = b"".join(b"%07d\r\n" % n for n in range(1, 400_001))  # 9 bytes a line: lines straddle 1 MiB chunks
    (ws / "numbers.txt").write_bytes(body + b"tail without newline")
    box = Toolbox(ws, test_command=None)
    for first in (1, 116_508, 116_509, 233_017, 400_001):
        result = await box.run(call("ReadFile", {"path": "numbers.txt", "line_offset": first, "n_lines": 1}))
        expected = f"{first:07d}" if first <= 400_000 else "tail without newline"
        assert f"{first:6}\t{expected}\n" in result.text, result.text
        assert "of 400001" in result.text
