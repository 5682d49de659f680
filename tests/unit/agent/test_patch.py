"""ApplyPatch's engine: hunks found by their text, tolerant of drift, all-or-none per file, confined."""

from __future__ import annotations

from pathlib import Path

from kimi_lsp.agent.patch import apply_patch

MODULE = "".join(f"line {n}\n" for n in range(1, 41))


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_hunk_with_wrong_line_numbers_applies_by_context(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.txt", MODULE)
    patch = "--- a/data.txt\n+++ b/data.txt\n@@ -3,3 +3,3 @@\n line 29\n-line 30\n+line thirty\n line 31\n"
    report = apply_patch(tmp_path, patch)
    assert report.ok, report.text()
    assert path.read_text() == MODULE.replace("line 30\n", "line thirty\n")
    assert report.files[0].hunks[0].line == 29


def test_line_number_breaks_ties_between_identical_contexts(tmp_path: Path) -> None:
    text = "a\nx = 1\nb\n" * 3
    path = _write(tmp_path, "t.txt", text)
    patch = "--- t.txt\n+++ t.txt\n@@ -5,3 +5,3 @@\n a\n-x = 1\n+x = 2\n b\n"
    assert apply_patch(tmp_path, patch).ok
    assert path.read_text() == "a\nx = 1\nb\na\nx = 2\nb\na\nx = 1\nb\n"


def test_whitespace_drift_trailing_and_indentation(tmp_path: Path) -> None:
    source = "class A:\n    def f(self):   \n        return 1\n\n    def g(self):\n        return 2\n"
    path = _write(tmp_path, "a.py", source)
    # The model lost the class indentation and the trailing spaces, and wrote blank context without a space.
    patch = "--- a/a.py\n+++ b/a.py\n@@ -1,5 +1,5 @@\n def f(self):\n-    return 1\n+    return 10\n\n def g(self):\n"
    report = apply_patch(tmp_path, patch)
    assert report.ok, report.text()
    assert path.read_text() == source.replace("return 1\n", "return 10\n")
    assert "indentation" in report.text()


def test_new_and_deleted_files(tmp_path: Path) -> None:
    _write(tmp_path, "old.py", "a = 1\nb = 2\n")
    patch = (
        "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n"
        "@@ -0,0 +1,2 @@\n+x = 1\n+y = 2\n"
        "diff --git a/old.py b/old.py\ndeleted file mode 100644\n--- a/old.py\n+++ /dev/null\n"
        "@@ -1,2 +0,0 @@\n-a = 1\n-b = 2\n"
    )
    report = apply_patch(tmp_path, patch)
    assert report.ok, report.text()
    assert (tmp_path / "pkg" / "new.py").read_text() == "x = 1\ny = 2\n"
    assert not (tmp_path / "old.py").exists()
    assert [f.action for f in report.files] == ["create", "delete"]


def test_files_are_all_or_none_each_and_the_failure_shows_the_nearest_text(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.txt", "alpha\nbeta\ngamma\n")
    bad_text = MODULE
    bad = _write(tmp_path, "bad.txt", bad_text)
    patch = (
        "--- a/good.txt\n+++ b/good.txt\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n"
        "--- a/bad.txt\n+++ b/bad.txt\n"
        "@@ -1,2 +1,2 @@\n-line 1\n+LINE 1\n line 2\n"  # this hunk matches...
        "@@ -20,3 +20,3 @@\n line 20\n-line 21 changed meanwhile\n+line 21 new\n line 22\n"  # ...this one not
    )
    report = apply_patch(tmp_path, patch)
    assert not report.ok
    assert good.read_text() == "alpha\nBETA\ngamma\n"
    assert bad.read_text() == bad_text  # the first hunk of bad.txt was not written either
    text = report.text()
    assert "hunk 2 of 2 for bad.txt did not match; the most similar text is at lines 20-22" in text
    assert "    21\tline 21" in text
    assert "good.txt were applied; do not resend them" in text


def test_crlf_files_keep_crlf(tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    report = apply_patch(tmp_path, "--- a/win.txt\n+++ b/win.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")
    assert report.ok, report.text()
    assert path.read_bytes() == b"one\r\nTWO\r\nthree\r\n"


def test_patch_targets_outside_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    victim = _write(tmp_path, "victim.txt", "keep\n")
    report = apply_patch(
        root,
        "--- a/../victim.txt\n+++ b/../victim.txt\n@@ -1 +1 @@\n-keep\n+owned\n"
        f"--- /dev/null\n+++ {tmp_path}/planted.txt\n@@ -0,0 +1 @@\n+x\n",
    )
    assert not report.ok
    assert victim.read_text() == "keep\n"
    assert not (tmp_path / "planted.txt").exists()
    assert "outside the workspace" in report.text()


def test_secret_files_cannot_be_patched(tmp_path: Path) -> None:
    report = apply_patch(tmp_path, "--- /dev/null\n+++ b/.env\n@@ -0,0 +1 @@\n+KEY=1\n")
    assert not report.ok and not (tmp_path / ".env").exists()


def test_syntax_breaking_patch_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    source = "def f():\n    return 1\n"
    path = _write(tmp_path, "m.py", source)
    report = apply_patch(
        tmp_path, "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return (1\n"
    )
    assert not report.ok
    assert path.read_text() == source
    assert "syntax error" in report.text()


def test_garbage_is_explained(tmp_path: Path) -> None:
    report = apply_patch(tmp_path, "please change line 3")
    assert not report.ok
    assert "--- a/PATH" in report.text()


def test_missing_final_newline_marker_is_honoured(tmp_path: Path) -> None:
    path = _write(tmp_path, "n.txt", "a\nb\n")
    patch = "--- a/n.txt\n+++ b/n.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    assert apply_patch(tmp_path, patch).ok
    assert path.read_text() == "a\nc"


def test_unprefixed_context_line_is_read_as_context_and_later_changes_still_apply(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.py", "import os\n\nA = 1\n\ndef f():\n    return A\n\nB = 2\n")
    # The model lost the leading space of the context line 'def f():'; the header's counts still add up.
    patch = "--- a/m.py\n+++ b/m.py\n@@ -3,6 +3,6 @@\n-A = 1\n+A = 10\n \ndef f():\n     return A\n \n-B = 2\n+B = 20\n"
    report = apply_patch(tmp_path, patch)
    assert report.ok, report.text()
    assert path.read_text() == "import os\n\nA = 10\n\ndef f():\n    return A\n\nB = 20\n"
    assert "without a prefix read as context" in report.text()


def test_unprefixed_line_that_breaks_the_counts_fails_the_file_and_changes_nothing(tmp_path: Path) -> None:
    source = "a = 1\nb = 2\nc = 3\n"
    path = _write(tmp_path, "m.py", source)
    patch = "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n-a = 1\n+a = 10\nb = 2\n-c = 3\n+c = 30\n"
    report = apply_patch(tmp_path, patch)
    assert not report.ok
    assert path.read_text() == source
    assert "has no ' ', '-' or '+' prefix" in report.text() and "header says 2 and 2" in report.text()


def test_hunk_without_line_numbers_and_only_added_lines_appends_at_the_end(tmp_path: Path) -> None:
    path = _write(tmp_path, "n.txt", "one\ntwo\nthree\n")
    report = apply_patch(tmp_path, "--- a/n.txt\n+++ b/n.txt\n@@ @@\n+four\n+five\n")
    assert report.ok, report.text()
    assert path.read_text() == "one\ntwo\nthree\nfour\nfive\n"
    assert "appended at the end" in report.text()


def test_rename_onto_an_existing_file_is_refused_and_a_rename_touches_both_paths(tmp_path: Path) -> None:
    _write(tmp_path, "old.py", "x = 1\n")
    kept = _write(tmp_path, "kept.py", "precious = True\n")
    refused = apply_patch(tmp_path, "--- a/old.py\n+++ b/kept.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")
    assert not refused.ok and "already exists" in refused.text()
    assert kept.read_text() == "precious = True\n" and (tmp_path / "old.py").exists()
    assert refused.touched == []
    moved = apply_patch(tmp_path, "--- a/old.py\n+++ b/pkg/new.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")
    assert moved.ok, moved.text()
    assert moved.touched == ["old.py", "pkg/new.py"]
    assert (tmp_path / "pkg" / "new.py").read_text() == "x = 2\n" and not (tmp_path / "old.py").exists()
