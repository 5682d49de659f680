"""The parsers on real outputs of pytest 7, 8 and 9 (with xdist and subtests), unittest and Django's runner.

The outputs in tests/fixtures/runner_output were captured by its recapture.py (versions and commands in its
manifest.json) from small projects whose tests are known: that is where the expected counts come from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimi_lsp.context.failures import parse_test_output, run_problem

FIXTURES = Path(__file__).parents[2] / "fixtures" / "runner_output"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())

# The basic project: test_add fails in the test, test_boom raises in pkg/mod.py, one parametrized case
# fails, a fixture errors, one test is skipped, two pass.
BASIC_FAILURES = {
    "tests/test_mod.py::test_add": ("tests/test_mod.py", 6),
    "tests/test_mod.py::test_boom": ("pkg/mod.py", 6),
    "tests/test_mod.py::TestGroup::test_param[a b]": ("tests/test_mod.py", 25),
    "tests/test_mod.py::test_uses_broken": ("tests/test_mod.py", 30),
}
BASIC = [
    name
    for name in MANIFEST
    if name.startswith("pytest") and name.split("_", 1)[1] in ("default", "q", "v", "rA", "xdist")
]


def _parse(name: str):
    info = MANIFEST[name]
    output = (FIXTURES / f"{name}.txt").read_text()
    return info, output, parse_test_output(output, Path(info["root"]), info["exit_code"])


def test_every_major_pytest_and_runner_is_captured() -> None:
    versions = {info["versions"].get("pytest", "")[:1] for info in MANIFEST.values()}
    assert {"7", "8", "9"} <= versions
    assert any("Django" in info["versions"] for info in MANIFEST.values())
    assert any("-n 2" in info["command"] for info in MANIFEST.values())


@pytest.mark.parametrize("name", BASIC)
def test_pytest_counts_failures_and_their_code_lines(name: str) -> None:
    _info, _output, report = _parse(name)
    assert report.parsed and not report.ok
    assert (report.passed, report.failed, report.errors, report.skipped) == (2, 3, 1, 1)
    assert {f.test_id: (f.path, f.line) for f in report.failures} == BASIC_FAILURES


@pytest.mark.parametrize("name", ["pytest9_subtests", "pytest9_subtests_q"])
def test_pytest9_subtests_summary_and_each_failed_subtest(name: str) -> None:
    _info, _output, report = _parse(name)
    assert report.parsed
    assert (report.passed, report.failed) == (2, 4)  # subtests are counted apart, not as passed tests
    messages = sorted(f.message for f in report.failures)
    assert messages == ["[i=0] assert -1 == (0 + 1)", "[i=1] assert 0 == (1 + 1)", "[i=2] assert 1 == (2 + 1)"]
    assert {(f.test_id, f.path, f.line) for f in report.failures} == {
        ("tests/test_sub.py::test_adds_wrongly", "tests/test_sub.py", 13)
    }
    if name.endswith("_q"):
        assert "subtests passed" in report.summary_line


def test_the_issues_subtests_summary_line_counts_tests_not_subtests() -> None:
    report = parse_test_output("1 failed, 85 passed, 120 subtests passed in 0.50s\n")
    assert report.parsed and (report.passed, report.failed) == (85, 1)


@pytest.mark.parametrize("name", ["unittest_default", "unittest_v", "django_test", "django_test_v2"])
def test_unittest_and_django_runners(name: str) -> None:
    _info, _output, report = _parse(name)
    assert report.parsed and not report.ok
    found = {(f.test_id.rsplit(".", 1)[1], f.path, f.line) for f in report.failures}
    module = "shop/prices.py" if name.startswith("django") else "pkg/mod.py"
    assert ("test_boom", module, 6) in found
    tests_file = "shop/tests.py" if name.startswith("django") else "tests/test_mod.py"
    assert ("test_add", tests_file, 8) in found
    if name.startswith("django"):
        assert (report.failed, report.errors) == (1, 1)
    else:
        assert (report.failed, report.errors, report.skipped) == (4, 1, 1)  # three failed subTests among them


@pytest.mark.parametrize("version", ["7", "8", "9"])
def test_no_tests_collected_and_collection_errors_are_named(version: str) -> None:
    info, output, report = _parse(f"pytest{version}_no_tests")
    assert "collected no tests" in (run_problem(info["exit_code"], output, report) or "")
    info, output, report = _parse(f"pytest{version}_collect_error")
    problem = run_problem(info["exit_code"], output, report) or ""
    assert "could not be collected" in problem and "tests/test_broken.py" in problem
    assert report.failures[0].path == "tests/test_broken.py" and report.failures[0].line == 1


@pytest.mark.parametrize("version", ["8", "9"])
def test_a_test_path_that_does_not_exist_is_named(version: str) -> None:
    info, output, report = _parse(f"pytest{version}_bad_path")
    assert info["exit_code"] == 4
    assert run_problem(4, output, report) == (
        "the test command names a path that does not exist (exit 4): tests/nope.py"
    )


@pytest.mark.parametrize(
    ("exit_code", "output", "needle"),
    [
        (127, "/bin/sh: 1: no-such-runner: not found\n", "not found (exit 127)"),
        (126, "/bin/sh: 1: ./run-tests: Permission denied\n", "not executable (exit 126)"),
    ],
)
def test_commands_that_cannot_run_are_named(exit_code: int, output: str, needle: str) -> None:
    assert needle in (run_problem(exit_code, output, parse_test_output(output, None, exit_code)) or "")


@pytest.mark.parametrize("name", BASIC)
def test_runs_that_ran_tests_name_no_problem(name: str) -> None:
    info, output, report = _parse(name)
    assert run_problem(info["exit_code"], output, report) is None
