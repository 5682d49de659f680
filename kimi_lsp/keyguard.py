"""Keeping the API key out of reach of the processes kimi-lsp starts.

Test runs get an environment without the key, but any process can read its ancestors' initial environment
through ``/proc/<pid>/environ``, and a test is code the model may have written. So when a key arrives in the
environment, the commands that run tests (``serve``, ``fix``) re-execute themselves once with the key moved
into a pipe: the process that runs the tests then has no key in its environment block. It also marks itself
non-dumpable, so other processes of the same user cannot read its memory either. (Root can read anything.)
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
from collections.abc import Sequence

from kimi_lsp.settings import KEY_ENV_VARS

KEY_FD = "KIMI_LSP_KEY_FD"
_PR_SET_DUMPABLE = 4
_stash: dict[str, str] = {}


def hide_key(argv: Sequence[str]) -> None:
    """Re-execute as ``python -P -m kimi_lsp ARGV`` with the key in a pipe; returns only if not needed.

    ``-P`` keeps the working directory off the import path: ``-m`` would otherwise put it first, and a
    repository's ``json.py`` would run inside the process that holds the key.
    """
    if os.name != "posix" or KEY_FD in os.environ:
        return
    keys = {name: os.environ[name] for name in KEY_ENV_VARS if os.environ.get(name)}
    if not keys:
        return
    payload = json.dumps(keys).encode("utf-8")
    if len(payload) > 32_768:  # more than a pipe holds without a reader; no real key is this long
        return
    read, write = os.pipe()
    os.write(write, payload)
    os.close(write)
    os.set_inheritable(read, True)
    env = {name: value for name, value in os.environ.items() if name not in KEY_ENV_VARS}
    env[KEY_FD] = str(read)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-P", "-m", "kimi_lsp", *argv], env)


def take_key() -> None:
    """In the re-executed process: read the key back from the pipe and become non-dumpable."""
    fd_text = os.environ.pop(KEY_FD, None)
    if fd_text is None or not fd_text.isdigit():
        return
    fd = int(fd_text)
    chunks = []
    try:
        while chunk := os.read(fd, 65_536):
            chunks.append(chunk)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        keys = json.loads(b"".join(chunks))
        if isinstance(keys, dict):
            _stash.update({k: v for k, v in keys.items() if k in KEY_ENV_VARS and isinstance(v, str)})
    _non_dumpable()


def environment() -> dict[str, str]:
    """``os.environ`` plus the key taken from the pipe: what settings read, never what children inherit."""
    return {**os.environ, **_stash}


def _non_dumpable() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
