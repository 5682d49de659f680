"""Run one command and, when it ends, kill every process it left behind (the run without bubblewrap).

Started as a script (``python -I -S reaper.py ARGV...``, standard library only, so it starts fast and imports
nothing from the workspace). It makes itself a child subreaper: a daemon the command double-forks or
``setsid``-s away is re-parented here instead of to init, so it is still ours to find and kill. When the
command exits, every remaining descendant is killed and reaped, then the reaper exits with the command's
status (128 + signal when a signal ended it, as a shell reports). SIGTERM, SIGINT, SIGHUP, and the death
of kimi-lsp itself (parent-death signal) do the same at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _children() -> list[int]:
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                pids.extend(int(pid) for pid in handle.read().split())
        except OSError:
            continue
    return pids


def _kill_all() -> None:
    """SIGKILL every child until none is left; orphans of killed children come back here and are killed too."""
    while True:
        children = _children()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            pid, _status = os.waitpid(-1, 0 if children else os.WNOHANG)
        except ChildProcessError:
            return
        if not children and pid == 0:
            return


def _on_signal(signum: int, _frame: object) -> None:
    _kill_all()
    os._exit(128 + signum)


def main(argv: list[str]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:
        return 128 + signal.SIGTERM  # kimi-lsp died before the parent-death signal was armed
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        command = os.fork()
    except OSError as exc:
        print(f"kimi-lsp: cannot start the command: {exc}", file=sys.stderr)
        return 126
    if command == 0:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except FileNotFoundError:
            os.write(2, f"kimi-lsp: {argv[0]}: not found\n".encode())
            os._exit(127)
        except OSError as exc:
            os.write(2, f"kimi-lsp: {argv[0]}: {exc.strerror}\n".encode())
            os._exit(126)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            status = 0
            break
        if pid == command:
            break
        # an orphan re-parented here ended first: reaped, keep waiting for the command
    _kill_all()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
