"""A JSONL record of every job: requests, responses, tool calls and timings, kept in the user's state folder."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, TextIO


def state_dir() -> Path:
    """``$KIMI_LSP_STATE_DIR``, else ``$XDG_STATE_HOME/kimi-lsp``, else ``~/.local/state/kimi-lsp``."""
    explicit = os.environ.get("KIMI_LSP_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kimi-lsp"


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Transcript:
    """Appends one JSON object a line; a failure to write never fails the job (it is only the record)."""

    def __init__(self, job_id: str, directory: Path | None = None) -> None:
        self.job_id = job_id
        folder = (directory or state_dir()) / "transcripts"
        self.path: Path | None = folder / f"{job_id}.jsonl"
        self._file: TextIO | None = None
        self._started = time.monotonic()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")  # type: ignore[union-attr]
        except OSError:
            self.path = None

    def write(self, kind: str, data: dict[str, Any]) -> None:
        if self._file is None:
            return
        record = {"t": round(time.monotonic() - self._started, 4), "kind": kind, **data}
        try:
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._file.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
