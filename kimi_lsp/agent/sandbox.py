"""Running a command the way tests must run: confined, bounded and killable. The one path for every test run.

:class:`Sandbox` decides how a job's commands run (tests before, ``RunTests``, verification, ``Shell``,
tests on save): confined by bubblewrap when it works here (see :mod:`kimi_lsp.agent.bwrap`), else under
the reaper (:mod:`kimi_lsp.agent.reaper`) that kills what the command leaves behind, with the shadow's
package roots first on ``PYTHONPATH`` so an editable install still imports the shadow's code.

:func:`run_command` is the process mechanics underneath: its own session (so its own process group), no
stdin, stdout and stderr merged into one capped buffer, and a timeout. On timeout, on cancellation of the
awaiting task, and after a normal exit the whole process group is terminated: SIGTERM, a short grace,
then SIGKILL. Cancellation re-raises :class:`asyncio.CancelledError` once the group is dead.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kimi_lsp.agent import bwrap, reaper
from kimi_lsp.errors import ConfigError, KimiError

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
    duration: float


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
        duration=time.monotonic() - started,
    )


ENABLE_HINT = (
    "install bubblewrap (Debian/Ubuntu/Fedora package 'bubblewrap') and allow unprivileged user namespaces "
    "(or run as root); set sandbox = require to refuse unconfined runs"
)


class SandboxUnavailable(ConfigError):
    """``sandbox = require`` and bubblewrap cannot confine a run here (exit 2, before any model call)."""


class SandboxFailed(KimiError):
    """bubblewrap worked here but could not build this run's sandbox (its own words are in the message)."""


@dataclass(frozen=True)
class Sandbox:
    """How one job's commands run: in ``workspace`` (the user's path), showing ``folder``'s files.

    ``folder`` is the shadow (or the workspace itself, for tests on save); ``linked`` the heavy folders
    the shadow links to the user's tree. ``confined`` says whether bubblewrap is in use; when it is not,
    ``notice`` says why, to be told once per job.
    """

    folder: Path
    workspace: Path
    linked: tuple[str, ...] = ()
    confined: bool = False
    network: bool = False
    notice: str | None = None
    bwrap_path: str | None = None

    @property
    def seen_root(self) -> Path:
        """The folder's path as the command sees it (the one its output's absolute paths start with)."""
        return self.workspace if self.confined else self.folder

    @classmethod
    def choose(
        cls,
        folder: Path,
        workspace: Path,
        *,
        mode: str = "auto",
        network: bool = False,
        linked: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Sandbox:
        """Decide for ``mode`` (auto | require | off); blocks briefly the first time (bwrap is tried once)."""
        base = cls(Path(os.path.realpath(folder)), Path(os.path.realpath(workspace)), tuple(linked), network=network)
        if mode == "off":
            return dataclasses.replace(base, notice="the sandbox is off (setting sandbox = off)")
        why = sandbox_problem(env)
        if why is None:
            return dataclasses.replace(base, confined=True, bwrap_path=bwrap.find_bwrap(env))
        if mode == "require":
            raise SandboxUnavailable(
                f"sandbox = require, but test runs cannot be sandboxed here: {why}; {ENABLE_HINT.split(';')[0]}"
            )
        return dataclasses.replace(base, notice=f"tests run WITHOUT the sandbox ({why}); to enable it: {ENABLE_HINT}")

    async def run(
        self,
        command: str,
        *,
        timeout: float,
        env: Mapping[str, str],
        on_output: Callable[[str], None] | None = None,
        output_cap: int = 200_000,
    ) -> CommandResult:
        """Run a shell command line for a test or a tool; ``env`` is cleaned with :func:`test_env` here."""
        clean = test_env(env)
        shell = ["/bin/sh", "-c", command]
        if self.confined and self.bwrap_path:
            clean["TMPDIR"] = "/tmp"
            argv = bwrap.command(
                self.bwrap_path,
                shell,
                folder=self.folder,
                workspace=self.workspace,
                linked=self.linked,
                network=self.network,
                hide=bwrap.hidden_places(env),
                show_in_tmp=bwrap.tmp_folders_needed(command, env),
            )
        else:
            if self.folder != self.workspace:
                roots = package_roots(self.folder, self.workspace, self.linked, env)
                if roots:
                    clean["PYTHONPATH"] = os.pathsep.join([*roots, *filter(None, [clean.get("PYTHONPATH")])])
            argv = [sys.executable, "-I", "-S", reaper.__file__, *shell]
        result = await run_command(
            argv, cwd=self.folder, timeout=timeout, env=clean, output_cap=output_cap, on_output=on_output
        )
        if self.confined and result.exit_code == 1 and result.output.startswith("bwrap: "):
            # bwrap's own failure, before the command started: not a test result.
            raise SandboxFailed(
                f"the sandbox could not start: {result.output.strip().splitlines()[0]} "
                "(set sandbox = off to run the tests unconfined)"
            )
        return result


def sandbox_problem(env: Mapping[str, str] | None = None) -> str | None:
    """None when bubblewrap can confine test runs here; else what stands in the way."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux; this is {sys.platform}"
    found = bwrap.find_bwrap(env)
    if found is None:
        return "bwrap is not installed (not on PATH)"
    problem = bwrap.probe(found)
    return None if problem is None else f"bwrap cannot create a sandbox: {problem}"


_MAPPING = re.compile(r"^MAPPING\s*(?::[^=]*)?=\s*(\{.*?\})\s*$", re.MULTILINE | re.DOTALL)


def package_roots(folder: Path, workspace: Path, linked: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The shadow's copies of the import roots that editable installs point into the user's workspace.

    Read from the ``.pth`` files and setuptools' editable finders of the linked virtualenvs (and of
    ``VIRTUAL_ENV``); put first on ``PYTHONPATH`` they make the shadow's code win over the user's.
    """
    venvs = [os.path.realpath(folder / rel) for rel in linked]
    if env.get("VIRTUAL_ENV"):
        venvs.append(os.path.realpath(env["VIRTUAL_ENV"]))
    found: list[Path] = []
    for venv in dict.fromkeys(venvs):
        for site in Path(venv).glob("lib/python*/site-packages"):
            found += _editable_paths(site)
    roots: list[str] = []
    for path in found:
        try:
            rel = Path(os.path.realpath(path)).relative_to(workspace)
        except ValueError:
            continue
        copy = str(folder / rel)
        if copy not in roots and os.path.isdir(copy):
            roots.append(copy)
    return roots


def _editable_paths(site: Path) -> list[Path]:
    paths: list[Path] = []
    for pth in sorted(site.glob("*.pth")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in pth.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")):
                    paths.append(Path(line))
    for finder in sorted(site.glob("__editable___*_finder.py")):
        with contextlib.suppress(OSError, UnicodeDecodeError, ValueError, SyntaxError):
            match = _MAPPING.search(finder.read_text(encoding="utf-8"))
            mapping = ast.literal_eval(match.group(1)) if match else {}
            paths += [Path(target).parent for target in mapping.values() if isinstance(target, str)]
    return paths
