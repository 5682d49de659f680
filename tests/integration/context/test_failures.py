"""Parsing the output of real pytest and unittest runs: counts, failing tests, the raising line, collection errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_lsp.context.failures import parse_test_output

PROJECT = {
    "pkg/__init__.py": "",
    "pkg/mod.py": 'def add(a, b):\n    return a - b\n\n\ndef boom():\n    raise ValueError("kaboom")\n',
    "tests/test_mod.py": (
        "import pytest\n"
        "from pkg.mod import add, boom\n"
        "\n"
        "\n"
        "def test_add():\n"
        "    assert add(1, 2) == 3\n"
        "\n"
        "\n"
        "def test_boom():\n"
        "    boom()\n"
        "\n"
        "\n"
        "def test_ok():\n"
        "    assert True\n"
        "\n"
        "\n"
        "@pytest.mark.skip\n"
        "def test_skipped():\n"
        "    pass\n"
        "\n"
        "\n"
        "class TestGroup:\n"
        '    @pytest.mark.parametrize("x", [1, "a b"])\n'
        "    def test_param(self, x):\n"
        "        assert x == 1\n"
        "\n"
        "\n"
        "@pytest.fixture\n"
        "def broken():\n"
        '    raise RuntimeError("fixture broke")\n'
        "\n"
        "\n"
        "def test_uses_broken(broken):\n"
        "    pass\n"
    ),
}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("failing")
    for relpath, text in PROJECT.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    return root


def _run_pytest(root: Path, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(root), *args],
        cwd=root,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode in (1, 2), completed.stdout + completed.stderr  # failures; interrupted
    return completed.stdout + completed.stderr


@pytest.mark.parametrize("style", ["--tb=long", "--tb=short", "--tb=native"])
def test_real_pytest_output_gives_counts_tests_and_the_raising_line(project: Path, style: str) -> None:
    report = parse_test_output(_run_pytest(project, style, "tests"), project)

    assert report.parsed
    assert (report.passed, report.failed, report.errors, report.skipped) == (2, 3, 1, 1)
    assert report.summary_line is not None and "3 failed" in report.summary_line
    by_id = {failure.test_id: failure for failure in report.failures}
    assert set(by_id) == {
        "tests/test_mod.py::test_add",
        "tests/test_mod.py::test_boom",
        "tests/test_mod.py::TestGroup::test_param[a b]",
        "tests/test_mod.py::test_uses_broken",
    }
    boom = by_id["tests/test_mod.py::test_boom"]
    # The code line that raised, inside the workspace, and the test's own line.
    assert (boom.path, boom.line) == ("pkg/mod.py", 6)
    assert boom.test_location == ("tests/test_mod.py", 10)
    assert "kaboom" in boom.message
    add = by_id["tests/test_mod.py::test_add"]
    assert (add.path, add.line) == ("tests/test_mod.py", 6)
    # Frames in pytest's or the standard library's own files never show up.
    for failure in report.failures:
        for path, _ in failure.frames:
            assert not path.startswith("/") and "site-packages" not in path


def test_quiet_pytest_output_without_banner_is_parsed(project: Path) -> None:
    report = parse_test_output(_run_pytest(project, "-q", "tests"), project)

    assert report.parsed
    assert (report.passed, report.failed, report.errors, report.skipped) == (2, 3, 1, 1)


def test_collection_error_is_an_error_with_its_location(project: Path, tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text("import not_a_module_anywhere\n")
    report = parse_test_output(_run_pytest(tmp_path, "-q", "-p", "no:asyncio"), tmp_path)

    assert report.errors == 1
    [failure] = report.failures
    assert failure.test_id == "test_broken.py"
    assert (failure.path, failure.line) == ("test_broken.py", 1)
    assert "not_a_module_anywhere" in failure.message


def test_real_unittest_output_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("def value():\n    return 1\n")
    (tmp_path / "test_unit.py").write_text(
        "import unittest\n"
        "from helper import value\n"
        "\n"
        "class T(unittest.TestCase):\n"
        "    def test_value(self):\n"
        "        self.assertEqual(value(), 2)\n"
        "\n"
        "    def test_error(self):\n"
        "        raise KeyError('k')\n"
        "\n"
        "    def test_ok(self):\n"
        "        pass\n"
        "\n"
        "    @unittest.skip('later')\n"
        "    def test_later(self):\n"
        "        pass\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "unittest"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = parse_test_output(completed.stdout + completed.stderr, tmp_path)

    assert report.parsed
    assert (report.passed, report.failed, report.errors, report.skipped) == (1, 1, 1, 1)
    by_id = {failure.test_id: failure for failure in report.failures}
    assert (by_id["test_unit.T.test_value"].path, by_id["test_unit.T.test_value"].line) == ("test_unit.py", 6)
    assert "1 != 2" in by_id["test_unit.T.test_value"].message
    assert by_id["test_unit.T.test_error"].line == 9


def test_parametrized_ids_holding_a_dash_separator_keep_their_whole_id(tmp_path: Path) -> None:
    # pytest writes "FAILED <id> - <message>": an id whose parameter holds " - " must not be cut there.
    (tmp_path / "test_dash.py").write_text(
        "import pytest\n"
        "\n"
        "\n"
        '@pytest.mark.parametrize("v", ["a - b", "c - [d - e]", "plain"])\n'
        "def test_param(v):\n"
        '    assert v == "zz"\n'
    )
    output = _run_pytest(tmp_path, "-q", "-p", "no:asyncio", "-rf")
    assert "FAILED test_dash.py::test_param[a - b] - " in output  # what the parser must split

    report = parse_test_output(output, tmp_path)

    assert report.failed == 3
    ids = [failure.test_id for failure in report.failures]
    assert sorted(ids) == [
        "test_dash.py::test_param[a - b]",
        "test_dash.py::test_param[c - [d - e]]",
        "test_dash.py::test_param[plain]",
    ]
    for failure in report.failures:
        assert failure.message.startswith("AssertionError")
        assert (failure.path, failure.line) == ("test_dash.py", 6)
