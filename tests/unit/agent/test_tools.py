"""The model's tools: confined, bounded, and every failure is a message the model can act on."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.testing import tool_call as call


def make_ws(tmp_path: Path) -> Path:
    """The workspace these tests (and their integration neighbours) work in."""
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "calc.py").write_text("def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n")
    (root / "pkg" / "util.py").write_text("VALUE = 1\n")
    (root / "notes.md").write_text("add things\n")
    (root / ".env").write_text("KIMI_API_KEY=sk-leak\n")
    (root / "deploy_key.pem").write_text("-----BEGIN PRIVATE KEY-----\nadd\n")
    (tmp_path / "outside.txt").write_text("outside add\n")
    return root


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_ws(tmp_path)


@pytest.fixture
def box(ws: Path) -> Toolbox:
    return Toolbox(ws, test_command=None)


def test_specs_follow_the_design_and_every_property_has_a_type(ws: Path) -> None:
    specs = Toolbox(ws, test_command="pytest").specs()
    assert [s.name for s in specs] == [
        "ReadFile", "Glob", "Grep", "StrReplaceFile", "WriteFile", "ApplyPatch", "RunTests",
    ]  # fmt: skip
    params = {s.name: set(s.parameters["properties"]) for s in specs}
    assert params["ReadFile"] == {"path", "line_offset", "n_lines"}
    assert params["Grep"] == {"pattern", "path", "glob", "ignore_case"}
    assert params["StrReplaceFile"] == {"path", "edit"}
    assert params["RunTests"] == {"selection"}
    for spec in specs:
        for prop in spec.parameters["properties"].values():
            assert "type" in prop
    again = Toolbox(ws, test_command="pytest").specs()
    assert json.dumps([s.to_wire() for s in specs]) == json.dumps([s.to_wire() for s in again])
    shell = Toolbox(ws, test_command=None, allow_shell=True).specs()
    assert shell[-1].name == "Shell" and "Shell" not in [s.name for s in specs]


async def test_parallel_reads_return_numbered_lines(box: Toolbox) -> None:
    results = await asyncio.gather(
        box.run(call("ReadFile", {"path": "pkg/calc.py"}, 0)),
        box.run(call("ReadFile", {"path": "pkg/util.py"}, 1)),
        box.run(call("ReadFile", {"path": "pkg/calc.py", "line_offset": 5, "n_lines": 1}, 2)),
    )
    assert all(r.ok for r in results)
    assert results[0].text.startswith("     1\tdef add(a, b):\n     2\t    return a - b\n")
    assert "pkg/calc.py: lines 1-6 of 6" in results[0].text
    assert results[1].text == "     1\tVALUE = 1\n[pkg/util.py: lines 1-1 of 1]"
    assert results[2].text.startswith("     5\tdef sub(a, b):\n[pkg/calc.py: lines 5-5 of 6; to read more")
    assert results[0].target == "pkg/calc.py"


async def test_read_file_pages_and_cuts_long_lines(ws: Path, box: Toolbox) -> None:
    (ws / "big.txt").write_text("".join(f"row {i}\n" for i in range(1, 1501)) + "x" * 5000 + "\n")
    first = await box.run(call("ReadFile", {"path": "big.txt"}))
    assert "lines 1-1000 of 1501; to read more, call ReadFile with line_offset=1001" in first.text
    rest = await box.run(call("ReadFile", {"path": "big.txt", "line_offset": 1001}))
    assert rest.text.startswith("  1001\trow 1001\n")
    assert "[line cut: 5000 characters]" in rest.text and "1 long line(s) cut" in rest.text
    past = await box.run(call("ReadFile", {"path": "big.txt", "line_offset": 9999}))
    assert not past.ok and "1501 lines" in past.text


async def test_path_escapes_are_refused_and_nothing_outside_is_read_or_written(ws: Path, box: Toolbox) -> None:
    outside = ws.parent / "outside.txt"
    os.symlink(outside, ws / "sneaky.txt")
    attempts = [
        call("ReadFile", {"path": "../outside.txt"}),
        call("ReadFile", {"path": str(outside)}),
        call("ReadFile", {"path": "sneaky.txt"}),
        call("WriteFile", {"path": "../outside.txt", "content": "owned\n"}),
        call("WriteFile", {"path": "sneaky.txt", "content": "owned\n"}),
        call("StrReplaceFile", {"path": "sneaky.txt", "edit": {"old": "outside", "new": "owned"}}),
        call(
            "ApplyPatch",
            {"patch": "--- a/../outside.txt\n+++ b/../outside.txt\n@@ -1 +1 @@\n-outside add\n+x\n"},
        ),
        call("Grep", {"pattern": "add", "path": ".."}),
        call("Glob", {"pattern": "*", "directory": ".."}),
        call("WriteFile", {"path": "../planted.py", "content": "x = 1\n"}),
    ]
    for attempt in attempts:
        result = await box.run(attempt)
        assert not result.ok, attempt
        assert "outside add" not in result.text
    assert outside.read_text() == "outside add\n"
    assert not (ws.parent / "planted.py").exists()
    assert box.touched == set()


async def test_secrets_are_withheld_from_read_grep_and_glob(box: Toolbox) -> None:
    for path in (".env", "deploy_key.pem"):
        result = await box.run(call("ReadFile", {"path": path}))
        assert not result.ok and "secret" in result.text
    grep = await box.run(call("Grep", {"pattern": "add|KIMI"}))
    assert grep.ok
    assert "deploy_key.pem" not in grep.text and ".env" not in grep.text and "sk-leak" not in grep.text
    assert "pkg/calc.py:1: def add(a, b):" in grep.text
    glob = await box.run(call("Glob", {"pattern": "*"}))
    assert glob.text.split("\n") == ["notes.md"]
    direct = await box.run(call("Grep", {"pattern": "KIMI", "path": ".env"}))
    assert not direct.ok and "sk-leak" not in direct.text


async def test_glob_and_grep_options(box: Toolbox) -> None:
    py = await box.run(call("Glob", {"pattern": "**/*.py"}))
    assert py.text == "pkg/calc.py\npkg/util.py"
    flat = await box.run(call("Glob", {"pattern": "*.py"}))
    assert "try **/*.py" in flat.text
    grep = await box.run(call("Grep", {"pattern": "value", "ignore_case": True, "glob": "*.py"}))
    assert grep.text == "pkg/util.py:1: VALUE = 1"
    bad = await box.run(call("Grep", {"pattern": "(unclosed"}))
    assert not bad.ok and "invalid regular expression" in bad.text


async def test_grep_output_is_bounded(ws: Path, box: Toolbox) -> None:
    (ws / "many.txt").write_text("hit\n" * 1000)
    result = await box.run(call("Grep", {"pattern": "hit"}))
    assert result.text.count("\n") <= 201
    assert "[showing 200 of" in result.text


async def test_failed_str_replace_explains_then_a_correct_one_applies(ws: Path, box: Toolbox) -> None:
    before = (ws / "pkg" / "calc.py").read_text()
    miss = await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": {"old": "return a-b", "new": "x"}}))
    assert not miss.ok
    assert "not found" in miss.text and "     2\t    return a - b" in miss.text
    ambiguous = await box.run(
        call("StrReplaceFile", {"path": "pkg/calc.py", "edit": {"old": "return a - b", "new": "return a + b"}})
    )
    assert not ambiguous.ok and "occurs 2 times" in ambiguous.text and "lines 2, 6" in ambiguous.text
    assert (ws / "pkg" / "calc.py").read_text() == before
    fixed = await box.run(
        call(
            "StrReplaceFile",
            {
                "path": "pkg/calc.py",
                "edit": {
                    "old": "def add(a, b):\n    return a - b",
                    "new": "def add(a, b):\n    return a + b",
                },
            },
        )
    )
    assert fixed.ok, fixed.text
    assert (ws / "pkg" / "calc.py").read_text() == before.replace("return a - b", "return a + b", 1)
    assert box.touched == {"pkg/calc.py"}


async def test_edit_list_is_all_or_none(ws: Path, box: Toolbox) -> None:
    before = (ws / "pkg" / "calc.py").read_text()
    edits = [{"old": "def add", "new": "def plus"}, {"old": "no such text", "new": "y"}]
    result = await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": edits}))
    assert not result.ok and "edit 2 of 2" in result.text and "No edit was applied" in result.text
    assert (ws / "pkg" / "calc.py").read_text() == before
    edits[1] = {"old": "a - b", "new": "b - a", "replace_all": True}
    assert (await box.run(call("StrReplaceFile", {"path": "pkg/calc.py", "edit": edits}))).ok
    assert (ws / "pkg" / "calc.py").read_text() == before.replace("def add", "def plus").replace("a - b", "b - a")


async def test_syntax_breaking_edit_is_refused_and_file_unchanged(ws: Path, box: Toolbox) -> None:
    before = (ws / "pkg" / "calc.py").read_text()
    result = await box.run(
        call(
            "StrReplaceFile",
            {"path": "pkg/calc.py", "edit": {"old": "def sub(a, b):", "new": "def sub(a, b)"}},
        )
    )
    assert not result.ok
    assert "syntax error at line 5" in result.text and ">    5\tdef sub(a, b)" in result.text
    assert (ws / "pkg" / "calc.py").read_text() == before
    write = await box.run(call("WriteFile", {"path": "pkg/util.py", "content": "VALUE = (\n"}))
    assert not write.ok and (ws / "pkg" / "util.py").read_text() == "VALUE = 1\n"


async def test_write_file_creates_and_keeps_crlf(ws: Path, box: Toolbox) -> None:
    (ws / "win.txt").write_bytes(b"a\r\nb\r\n")
    assert (await box.run(call("WriteFile", {"path": "win.txt", "content": "a\nc\n"}))).ok
    assert (ws / "win.txt").read_bytes() == b"a\r\nc\r\n"
    created = await box.run(call("WriteFile", {"path": "pkg/sub/new.py", "content": "N = 1\n"}))
    assert created.ok and (ws / "pkg" / "sub" / "new.py").read_text() == "N = 1\n"
    assert box.touched == {"win.txt", "pkg/sub/new.py"}


async def test_apply_patch_tool_reports_and_records_touched(ws: Path, box: Toolbox) -> None:
    patch = (
        "--- a/pkg/calc.py\n+++ b/pkg/calc.py\n"
        "@@ -40,2 +40,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
    )
    result = await box.run(call("ApplyPatch", {"patch": patch}))
    assert result.ok, result.text
    assert "pkg/calc.py: 1 hunk(s) applied: hunk 1 at line 1" in result.text
    assert box.touched == {"pkg/calc.py"}


async def test_bad_calls_come_back_as_errors(box: Toolbox) -> None:
    truncated = await box.run(call("ReadFile", '{"path": "pkg/ca'))
    assert not truncated.ok and "not valid JSON" in truncated.text and "resend" in truncated.text
    unknown = await box.run(call("DeleteEverything", {}))
    assert not unknown.ok and "ReadFile" in unknown.text
    extra = await box.run(call("WriteFile", {"path": "x.txt", "content": "a", "mode": "append"}))
    assert not extra.ok and "does not take mode" in extra.text
    missing = await box.run(call("ReadFile", {}))
    assert not missing.ok and "missing required argument 'path'" in missing.text
    wrong_type = await box.run(call("ReadFile", {"path": "pkg/calc.py", "n_lines": "many"}))
    assert not wrong_type.ok and "integer" in wrong_type.text
    no_tests = await box.run(call("RunTests", {}))
    assert not no_tests.ok and "no test command" in no_tests.text


TEST_FILE = """
import os

def test_passes():
    assert True

def test_env_has_no_key():
    print("ENV-DUMP", sorted(os.environ))
    assert "KIMI_API_KEY" not in os.environ

def test_fails():
    assert 1 + 1 == 3
"""
