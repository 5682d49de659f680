"""Running a command the way tests must run: contained, bounded and killable.

Each command gets its own session (so its own process group), no stdin, stdout and stderr merged into
one capped buffer, and a timeout. On timeout, on cancellation of the awaiting task, and after a normal
exit (to sweep up daemons a test left behind) the whole process group is terminated: SIGTERM, a short
grace, then SIGKILL. Cancellation re-raises :class:`asyncio.CancelledError` once the group is dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
DRAIN_AFTER_EXIT = 2.0  # seconds to keep reading after the main process is gone (output still in the pipe)
_READ_CHUNK = 65_536

# Variables whose names contain one of these are dropped from a test environment: they are how keys,
# tokens and passwords are usually passed, and a test (written or changed by the model) could print them.
SECRET_NAME_PARTS = ("API_KEY", "APIKEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL")
ALWAYS_DROPPED = frozenset({"KIMI_API_KEY", "MOONSHOT_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"})


@dataclass(frozen=True)
class CommandResult:
    """What a finished (or killed) command left: ``exit_code`` is None when it was killed by us."""

    exit_code: int | None
    output: str
    timed_out: bool
    cancelled: bool
    duration: float
    truncated: bool


def test_env(base: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``base`` fit for running tests: no API keys or other secrets, no bytecode, unbuffered.

    Dropped: ``KIMI_API_KEY``, ``MOONSHOT_API_KEY`` and every variable whose name contains API_KEY,
    APIKEY, SECRET, TOKEN, PASSWORD, PASSWD or CREDENTIAL (case-insensitive).
    """
    env = {
        name: value
        for name, value in base.items()
        if name not in ALWAYS_DROPPED and not any(part in name.upper() for part in SECRET_NAME_PARTS)
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


test_env.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


class _CappedBuffer:
    """Keeps the first and the last ``cap // 2`` bytes of a stream and counts what fell between."""

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        excess = len(self.tail) - self.tail_cap
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if not self.dropped:
            return head + tail
        return f"{head}\n... [{self.dropped} bytes of output omitted] ...\n{tail}"


async def _pump(stream: asyncio.StreamReader, buffer: _CappedBuffer, on_output: Callable[[str], None] | None) -> None:
    while True:
        data = await stream.read(_READ_CHUNK)
        if not data:
            return
        buffer.add(data)
        if on_output is not None:
            with contextlib.suppress(Exception):  # a broken progress callback must not lose the output
                on_output(data.decode("utf-8", errors="replace"))


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when no process of the group is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


async def _kill_group(proc: asyncio.subprocess.Process, pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` for the leader, then SIGKILL whatever is left and reap."""
    try:
        if _signal_group(pgid, signal.SIGTERM):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
    finally:
        # Also on a second cancellation during the grace: nothing of the group may survive.
        _signal_group(pgid, signal.SIGKILL)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    await asyncio.shield(proc.wait())


async def run_command(
    argv_or_shell: str | Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    output_cap: int = 200_000,
    on_output: Callable[[str], None] | None = None,
    kill_grace: float = KILL_GRACE,
) -> CommandResult:
    """Run a shell string (``/bin/sh -c``) or an argv list and return its merged, capped output.

    ``env`` None inherits this process's environment as is; pass :func:`test_env` for tests.
    ``on_output`` receives decoded chunks as they arrive (progress display).
    """
    started = time.monotonic()
    common: dict = dict(
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    if isinstance(argv_or_shell, str):
        proc = await asyncio.create_subprocess_shell(argv_or_shell, **common)
    else:
        proc = await asyncio.create_subprocess_exec(*argv_or_shell, **common)
    pgid = proc.pid  # start_new_session makes the child the leader of a new group with its own pid
    buffer = _CappedBuffer(max(output_cap, 2))
    assert proc.stdout is not None
    pump = asyncio.create_task(_pump(proc.stdout, buffer, on_output))
    timed_out = False
    try:
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
            await _kill_group(proc, pgid, kill_grace)
        else:
            # The leader is gone; children it left behind would hold the pipe open and linger.
            _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            # The pipe can still be held by a process that left the group (setsid); don't wait forever.
            await asyncio.wait_for(asyncio.shield(pump), DRAIN_AFTER_EXIT)
    except asyncio.CancelledError:
        await _kill_group(proc, pgid, kill_grace)
        # Let the pipe reach EOF so asyncio closes its transports; the group is dead, this is quick.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(pump), DRAIN_AFTER_EXIT)
        raise
    finally:
        if not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
    return CommandResult(
        exit_code=None if timed_out else proc.returncode,
        output=buffer.text(),
        timed_out=timed_out,
        cancelled=False,
        duration=time.monotonic() - started,
        truncated=buffer.dropped > 0,
    )
