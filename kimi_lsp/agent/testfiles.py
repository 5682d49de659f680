"""Which workspace files belong to the tests: the one place kimi-lsp decides it.

A fix is verified against the user's own tests (``agent/verify.py``). Any file that decides what the tests
check, or which of them run, could let a change pass by moving the goalposts, so a "test file" here is:

- a test, by the discovery rules of the runners ``agent/detect.py`` detects: pytest and unittest
  (``test*.py``, ``*_test.py``), jest and vitest (``*.test.*``, ``*.spec.*``), go (``*_test.go``), and any
  file inside a ``tests/``, ``test/``, ``__tests__/``, ``__mocks__/`` or go ``testdata/`` folder (cargo's
  integration tests live in ``tests/``);
- test configuration those runners read: ``conftest.py``, ``pytest.ini``, ``pyproject.toml``, ``setup.cfg``,
  ``tox.ini`` (a ``-k``, an ``addopts`` or a skipping hook there changes which tests run), ``package.json``
  (its ``test`` script is what ``npm test`` runs), jest/vitest/mocha configs, ``Cargo.toml`` (``test = false``
  turns a target's tests off), Makefiles;
- any file the test command itself names (``sh run_tests.sh``).

Tests written inline in a source file (Rust's ``#[cfg(test)]`` modules, doctests) cannot be told apart by
path and are treated as code.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable

TEST_DIRS = frozenset({"tests", "test", "__tests__", "__mocks__", "testdata"})
CONFIG_NAMES = frozenset(
    {
        "conftest.py",
        "pytest.ini",
        ".pytest.ini",
        "pytest.toml",
        ".pytest.toml",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "noxfile.py",
        "package.json",
        "Cargo.toml",
        "Makefile",
        "makefile",
        "GNUmakefile",
    }
)
_JS = r"(?:js|jsx|ts|tsx|mjs|cjs|mts|cts)"
_TEST_NAME = re.compile(
    rf"""(?x)
    test[^/]*\.py | [^/]*_test\.py          # pytest, unittest
    | [^/]+\.(?:test|spec)\.{_JS}           # jest, vitest, mocha
    | [^/]*_test\.go                        # go
    | (?:jest|vitest|vite|karma)\.(?:config|conf|setup|workspace)\.{_JS} | vitest\.workspace\.json
    | \.mocharc(?:\.[a-z]+)? | setupTests\.{_JS}
    """
)
_CARGO_CONFIG = frozenset({".cargo/config", ".cargo/config.toml"})


def is_test_file(relpath: str, test_command: str | None = None) -> bool:
    """Whether ``relpath`` (workspace-relative, POSIX) is a test or test configuration (see the module)."""
    path = posixpath.normpath(relpath.replace("\\", "/")).lstrip("/")
    folders, _, name = path.rpartition("/")
    if name in CONFIG_NAMES or _TEST_NAME.fullmatch(name):
        return True
    if any(part in TEST_DIRS for part in folders.split("/") if part):
        return True
    if any(path == config or path.endswith("/" + config) for config in _CARGO_CONFIG):
        return True
    return path in _named_by(test_command)


def test_files(paths: Iterable[str], test_command: str | None = None) -> list[str]:
    """Those of ``paths`` that are test files, sorted."""
    return sorted(path for path in set(paths) if is_test_file(path, test_command))


def _named_by(command: str | None) -> set[str]:
    """The workspace-relative paths a test command names (``python run_tests.py``, ``./check.sh``)."""
    if not command:
        return set()
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    # A bare word (`python`, `pytest`, `test`) is a program or an argument found elsewhere, not a file here.
    return {
        posixpath.normpath(word)
        for word in words
        if ("/" in word or "." in word) and not word.startswith("-") and not posixpath.isabs(word) and "=" not in word
    }


# pytest would collect these two as tests, from their names.
is_test_file.__test__ = False  # type: ignore[attr-defined]
test_files.__test__ = False  # type: ignore[attr-defined]
