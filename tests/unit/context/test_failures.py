"""Parsing real test runner output into counts, failing tests and workspace locations."""

from __future__ import annotations

from pathlib import Path

from kimi_lsp.context.failures import parse_test_output
from kimi_lsp.context.locations import parse_locations


def test_plain_passed_failed_line_is_understood() -> None:
    report = parse_test_output("compiling\nsrc/lib.rs:12: oops\nresult: 4 passed, 2 failed, 1 skipped\n")

    assert report.parsed
    assert (report.passed, report.failed, report.skipped) == (4, 2, 1)
    assert report.failures[0].path == "src/lib.rs"


def test_unknown_output_falls_back_to_locations_and_the_exit_code(tmp_path: Path) -> None:
    output = f"panic at {tmp_path}/src/main.go:41: index out of range\n/usr/lib/go/runtime.go:9: frame\n"

    failed = parse_test_output(output, tmp_path, exit_code=2)
    passed = parse_test_output(output, tmp_path, exit_code=0)

    assert not failed.parsed and not failed.ok
    assert [(f.path, f.line) for f in failed.failures] == [("src/main.go", 41)]
    assert passed.failures == ()


def test_locations_are_made_relative_and_outside_ones_dropped(tmp_path: Path) -> None:
    text = (
        f'  File "{tmp_path}/app/views.py", line 7, in index\n'
        '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
        "tests/test_views.py:33: AssertionError\n"
        "see ../outside.py:3 too\n"
    )

    assert parse_locations(text, tmp_path) == [("app/views.py", 7), ("tests/test_views.py", 33)]
    assert ("/usr/lib/python3.11/json/__init__.py", 346) in parse_locations(text)
