"""The tools hold up against what models (and hostile repositories) send: slow regexes, argument files,
secrets behind innocent symlinks, renames onto existing files, mixed line endings and sloppy arguments."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.testing import tool_call as call


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / ".env").write_text("KIMI_API_KEY=sk-leak\n")
    (root / "deploy_key.pem").write_text("-----BEGIN PRIVATE KEY-----\nsk-pem\n")
    (tmp_path / "outside.txt").write_text("outside sk-out\n")
    return root


@pytest.mark.timeout(30)
async def test_catastrophic_grep_pattern_is_stopped_without_freezing_the_event_loop(ws: Path) -> None:
    (ws / "a_first.txt").write_text("aaaa\n")
    (ws / "b_slow.txt").write_text("a" * 40 + "!\n")
    box = Toolbox(ws, test_command=None, grep_timeout=1.0)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    counting = asyncio.create_task(ticker())
    began = time.monotonic()
    result = await asyncio.wait_for(box.run(call("Grep", {"pattern": "(a|a)+$"})), 10)
    took = time.monotonic() - began
    stop.set()
    await counting
    assert not result.ok
    assert "too slow" in result.text and "simpler or anchored" in result.text
    assert "a_first.txt:1: aaaa" in result.text  # matches found before the deadline are kept
    assert took < 5
    assert ticks >= 20  # the loop kept running (about 100 ticks of 10 ms in the 1 s deadline)


async def test_grep_matches_each_line_on_its_own(ws: Path) -> None:
    (ws / "f.txt").write_text("x = 1\nfoo\nfoo bar\n")
    box = Toolbox(ws, test_command=None)
    # Searched inside the whole file, "foo" on line 2 would be followed by a newline and start no text.
    for pattern in (r"foo(?!\s)", r"\Afoo$", r"(?<!\s)foo\Z", r"foo\s*+$"):
        result = await box.run(call("Grep", {"pattern": pattern, "path": "f.txt"}))
        assert result.text == "f.txt:2: foo", pattern
    spanning = await box.run(call("Grep", {"pattern": r"1\sfoo", "path": "f.txt"}))
    assert spanning.text.startswith("no matches")


async def test_grep_regex_syntax_errors_are_still_reported_clearly(ws: Path) -> None:
    result = await Toolbox(ws, test_command=None).run(call("Grep", {"pattern": "(unclosed"}))
    assert not result.ok and "invalid regular expression '(unclosed'" in result.text


async def test_run_tests_refuses_argument_files(ws: Path) -> None:
    (ws / "test_x.py").write_text("def test_x():\n    pass\n")
    ran = ws.parent / "ran.txt"
    box = Toolbox(ws, test_command=f"touch {ran}")
    for item in ("@/proc/self/environ", " @args.txt"):
        result = await box.run(call("RunTests", {"selection": [item]}))
        assert not result.ok and "argument file" in result.text
    assert not ran.exists()  # nothing was run


async def test_symlinks_to_secrets_are_hidden_from_grep_glob_and_read_file(ws: Path) -> None:
    os.symlink(".env", ws / "notes.txt")
    os.symlink("../deploy_key.pem", ws / "pkg" / "key.txt")
    os.symlink(ws.parent / "outside.txt", ws / "pkg" / "out.txt")
    os.symlink("calc.py", ws / "pkg" / "calc_link.py")  # a harmless link stays visible
    box = Toolbox(ws, test_command=None)
    grep = await box.run(call("Grep", {"pattern": "sk-|add"}))
    assert grep.ok
    assert "sk-" not in grep.text
    assert "pkg/calc_link.py:1: def add(a, b):" in grep.text
    glob = await box.run(call("Glob", {"pattern": "**/*"}))
    assert glob.text.split("\n") == ["pkg/calc.py", "pkg/calc_link.py"]
    for path in ("notes.txt", "pkg/key.txt", "pkg/out.txt"):
        read = await box.run(call("ReadFile", {"path": path}))
        assert not read.ok and "sk-" not in read.text, path
        direct = await box.run(call("Grep", {"pattern": "sk-", "path": path}))
        assert not direct.ok and "sk-" not in direct.text, path


async def test_apply_patch_rename_records_both_paths_and_never_overwrites(ws: Path) -> None:
    (ws / "old.py").write_text("x = 1\n")
    (ws / "kept.py").write_text("precious = True\n")
    box = Toolbox(ws, test_command=None)
    onto = await box.run(call("ApplyPatch", {"patch": "--- a/old.py\n+++ b/kept.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"}))
    assert not onto.ok and "kept.py already exists" in onto.text
    assert (ws / "kept.py").read_text() == "precious = True\n" and (ws / "old.py").read_text() == "x = 1\n"
    assert box.touched == set()
    moved = await box.run(call("ApplyPatch", {"patch": "--- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"}))
    assert moved.ok, moved.text
    assert not (ws / "old.py").exists() and (ws / "new.py").read_text() == "x = 2\n"
    assert box.touched == {"old.py", "new.py"}
    deleted = await box.run(
        call("ApplyPatch", {"patch": "--- a/kept.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-precious = True\n"})
    )
    assert deleted.ok and not (ws / "kept.py").exists()
    assert box.touched == {"old.py", "new.py", "kept.py"}


async def test_str_replace_keeps_each_lines_ending_in_a_mixed_file(ws: Path) -> None:
    box = Toolbox(ws, test_command=None)
    (ws / "m.txt").write_bytes(b"a\nb\nc\nd\r\ne\n")
    assert (await box.run(call("StrReplaceFile", {"path": "m.txt", "edit": {"old": "a", "new": "A"}}))).ok
    assert (ws / "m.txt").read_bytes() == b"A\nb\nc\nd\r\ne\n"
    (ws / "w.txt").write_bytes(b"one\r\ntwo\nthree\r\nfour\r\n")
    edit = {"old": "three", "new": "3a\n3b"}
    assert (await box.run(call("StrReplaceFile", {"path": "w.txt", "edit": edit}))).ok
    assert (ws / "w.txt").read_bytes() == b"one\r\ntwo\n3a\r\n3b\r\nfour\r\n"


async def test_edit_sent_as_a_json_string_is_accepted(ws: Path) -> None:
    box = Toolbox(ws, test_command=None)
    one = json.dumps({"old": "return a - b", "new": "return a + b"})
    assert (await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": one}))).ok
    several = json.dumps([{"old": "def add", "new": "def plus"}, {"old": "a + b", "new": "b + a"}])
    result = await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": several}))
    assert result.ok, result.text
    assert (ws / "pkg" / "calc.py").read_text() == "def plus(a, b):\n    return b + a\n"
    junk = await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": "replace add"}))
    assert not junk.ok and "not valid JSON" in junk.text
    scalar = await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": "3"}))
    assert not scalar.ok and "must be an object" in scalar.text


async def test_glob_accepts_dot_slash_and_explains_bad_sets(ws: Path) -> None:
    (ws / "[]").write_text("odd name\n")
    box = Toolbox(ws, test_command=None)
    dotted = await box.run(call("Glob", {"pattern": "./**/*.py"}))
    assert dotted.text == "pkg/calc.py"
    literal = await box.run(call("Glob", {"pattern": "[]"}))
    assert literal.ok and literal.text == "[]"
    negated = await box.run(call("Glob", {"pattern": "pkg/[!x]*.py"}))
    assert negated.text == "pkg/calc.py"
    bad = await box.run(call("Glob", {"pattern": "[z-a]*"}))
    assert not bad.ok and "invalid glob pattern" in bad.text and "escape" not in bad.text


async def test_grep_glob_with_a_slash_is_relative_to_the_root(ws: Path) -> None:
    (ws / "pkg" / "sub").mkdir()
    (ws / "pkg" / "sub" / "deep.py").write_text("add = 1\n")
    box = Toolbox(ws, test_command=None)
    spec = next(s for s in box.specs() if s.name == "Grep")
    assert "relative to the workspace root" in spec.parameters["properties"]["glob"]["description"]
    inside = await box.run(call("Grep", {"pattern": "add", "path": "pkg", "glob": "pkg/sub/*.py"}))
    assert inside.text == "pkg/sub/deep.py:1: add = 1"
    dotted = await box.run(call("Grep", {"pattern": "add", "glob": "./pkg/*.py"}))
    assert dotted.text == "pkg/calc.py:1: def add(a, b):"
    by_name = await box.run(call("Grep", {"pattern": "add", "path": "pkg", "glob": "deep.py"}))
    assert by_name.text == "pkg/sub/deep.py:1: add = 1"


async def test_write_file_refuses_a_path_naming_a_folder(ws: Path) -> None:
    box = Toolbox(ws, test_command=None)
    result = await box.run(call("WriteFile", {"path": "newdir/", "content": "x"}))
    assert not result.ok and "folder" in result.text
    assert not (ws / "newdir").exists() and box.touched == set()
