"""The unit suite's own rule: a unit test runs no program but git (see ``tests/unit/conftest.py``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest


def test_a_unit_test_that_starts_a_program_fails_and_says_where_it_belongs() -> None:
    with pytest.raises(AssertionError, match="tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with pytest.raises(AssertionError, match="tests/integration"):
        subprocess.run("git --version", shell=True, check=False)


async def test_asyncio_subprocesses_are_caught_too() -> None:
    with pytest.raises(AssertionError, match="tests/integration"):
        await asyncio.create_subprocess_exec("true")


def test_git_is_the_one_program_unit_tests_may_run() -> None:
    assert subprocess.run(["git", "--version"], capture_output=True, check=True).stdout.startswith(b"git version")
