"""Verifying a change against the tests it must pass: the user's own, not the model's edits of them.

A job that fixes failing tests or diagnostics promises that the *code* change makes the project's tests
pass. So every test file the change touched (``agent/testfiles.py`` decides which: tests and test
configuration) is put back to the user's version for the verification run, and test files the model added
are set aside; then, when the change did touch test files, the tests run once more exactly as the model left
them, so that what is offered passes as offered too. Both runs must pass.

Refactor and instruction jobs may change tests when the user asks for it: their test edits are verified as
they are, once. Either way the result names the test files, in kimi-lsp's own words (``note``), whatever the
model's summary says.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_lsp.agent import prompts
from kimi_lsp.agent.shadow import Shadow
from kimi_lsp.agent.testfiles import test_files
from kimi_lsp.workspace.paths import resolve_in_root
from kimi_lsp.workspace.text import write_confined

if TYPE_CHECKING:
    from kimi_lsp.agent.jobdata import TestRun

Runner = Callable[[str], Awaitable["TestRun"]]  # told which run it is: "with the user's test files" or "as changed"


@dataclass(frozen=True)
class Verification:
    """The run that decided (``tests.after``), whether the change passed, and what to tell the user and model."""

    after: TestRun
    passed: bool
    note: str | None  # names the test files the offered change touches; None when it touches none
    for_model: str  # the failing run as the model hears it when it goes on


async def verify(
    shadow: Shadow,
    changed: Sequence[str],
    offered: Sequence[str],
    command: str,
    *,
    keep_test_edits: bool,
    run: Runner,
) -> Verification:
    """Run ``command`` on the shadow's change; ``changed`` is every path the shadow changed (those refused from
    the result included), ``offered`` the test files among what the result offers. ``keep_test_edits``: the user
    asked for test changes."""
    # Test files a test run left behind are not offered, but they are set aside too: they could skip tests.
    touched = test_files(changed, command)

    def note(text: str) -> str | None:
        return ("The change " + text).format(names=", ".join(offered)) if offered else None

    if keep_test_edits or not touched:
        after = await run("as changed")
        said = note("edits tests or test configuration ({names}), as asked: verified with them as changed.")
        return Verification(after, after.ok, said, prompts.still_failing(after.for_model()))

    with _users_versions(shadow, {path: shadow.snapshot.original(path) for path in touched}):
        own = await run("with the user's test files")
    if not own.ok:
        said = note(
            "edits tests or test configuration ({names}); with the project's own versions of them the tests fail: "
            "the code change alone does not pass."
        )
        return Verification(own, False, said, prompts.still_failing(own.for_model(), set_aside=touched))
    after = await run("as changed")
    if not after.ok:
        said = note(
            "edits tests or test configuration ({names}); the project's own tests pass with the code change, "
            "but the tests as changed fail."
        )
        return Verification(after, False, said, prompts.still_failing(after.for_model()))
    said = note(
        "also edits tests or test configuration ({names}): the project's own versions of them pass with the "
        "code change alone, and so do the tests as changed."
    )
    return Verification(after, True, said, "")


def unverified_note(offered: Sequence[str]) -> str | None:
    """The note for a change that touched test files and had no test command to run."""
    return (
        f"The change edits tests or test configuration ({', '.join(offered)}); nothing was verified."
        if offered
        else None
    )


@contextlib.contextmanager
def _users_versions(shadow: Shadow, originals: Mapping[str, bytes | None]) -> Iterator[None]:
    """Give each path the user's bytes (None: remove it) for the duration, then put the model's back."""
    models: dict[str, _Saved] = {}
    try:
        for relpath, data in originals.items():
            models[relpath] = _read(_place(shadow.root, relpath))
            _put(shadow.root, relpath, _Saved(data, _mode(shadow.source / relpath)))
        yield
    finally:
        for relpath, saved in models.items():
            _put(shadow.root, relpath, saved)


def _place(root: Path, relpath: str) -> Path:
    # The folder must lie inside the shadow: no link on the way may lead out of it.
    folder, _, name = relpath.rpartition("/")
    return resolve_in_root(root, folder or ".", allow_secret=True) / name


@dataclass(frozen=True)
class _Saved:
    data: bytes | None  # None: no file
    mode: int
    link: str | None = None  # the file was a symlink to this


def _read(path: Path) -> _Saved:
    if path.is_symlink():
        return _Saved(None, 0o644, os.readlink(path))
    try:
        return _Saved(path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    except FileNotFoundError:
        return _Saved(None, 0o644)


def _mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644


def _put(root: Path, relpath: str, saved: _Saved) -> None:
    # Unlink first: a link the model left in the file's place is removed, never written through.
    path = _place(root, relpath)
    if path.is_symlink() or path.is_file():
        path.unlink()
    if saved.link is not None:
        os.symlink(saved.link, path)
    if saved.data is not None:
        write_confined(root, relpath, saved.data, mode=saved.mode)
