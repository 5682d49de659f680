"""Which paths count as tests or test configuration: the runners' own discovery rules, in one place."""

from __future__ import annotations

import pytest

from kimi_lsp.agent.testfiles import is_test_file, test_files


@pytest.mark.parametrize(
    "path",
    [
        # pytest and unittest
        "test_shapes.py",
        "pkg/shapes_test.py",
        "tests/helpers.py",
        "src/app/test/fixtures/data.json",
        "conftest.py",
        "sub/conftest.py",
        # test configuration that chooses which tests run
        "pytest.ini",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "package.json",
        "web/jest.config.ts",
        "vitest.config.mjs",
        ".mocharc.yml",
        "src/setupTests.js",
        "Cargo.toml",
        ".cargo/config.toml",
        "Makefile",
        # jest / vitest
        "src/button.test.tsx",
        "src/button.spec.js",
        "src/__tests__/button.js",
        "src/__mocks__/fs.js",
        # go and cargo
        "pkg/parse_test.go",
        "pkg/testdata/input.txt",
        "crate/tests/integration.rs",
    ],
)
def test_the_runners_tests_and_their_configuration_are_test_files(path: str) -> None:
    assert is_test_file(path)


@pytest.mark.parametrize(
    "path",
    [
        "shapes.py",
        "src/contest.py",
        "kimi_lsp/testing/stand_in.py",  # "testing" is a package name, not a test folder
        "src/button.tsx",
        "pkg/parse.go",
        "crate/src/lib.rs",
        "docs/tests.md.txt/../guide.md",
        "README.md",
    ],
)
def test_code_and_other_files_are_not(path: str) -> None:
    assert not is_test_file(path)


def test_files_the_test_command_names_are_test_files() -> None:
    command = "sh ./ci/run_checks.sh --fast && python scripts/check.py"
    assert is_test_file("ci/run_checks.sh", command)
    assert is_test_file("scripts/check.py", command)
    assert not is_test_file("ci/run_checks.sh", "python -m pytest -q")
    assert not is_test_file("python", "python -m pytest")  # only paths of the workspace's own files matter


def test_test_files_picks_and_sorts_them_once() -> None:
    assert test_files(["b.py", "tests/x.py", "conftest.py", "tests/x.py"]) == ["conftest.py", "tests/x.py"]
