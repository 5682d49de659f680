"""A real Emacs (``emacs -nw`` inside a private tmux server) with eglot talking to kimi-lsp, whose server
environment points at the stand-in model.

What the user sees is read from the terminal (``tmux capture-pane``); Emacs's own state (buffer text,
``*Messages*``) is read through ``emacsclient`` on a private server socket.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import STAND_IN_KEY

INIT = """
(setq inhibit-startup-screen t
      make-backup-files nil
      create-lockfiles nil
      auto-save-default nil
      message-log-max t
      native-comp-async-report-warnings-errors 'silent
      warning-minimum-level :error
      server-socket-dir {server_dir})
(require 'eglot)
(require 'server)
(server-start)
(add-to-list 'eglot-server-programs
             '(python-mode . ({python} "-m" "kimi_lsp" :initializationOptions {options})))
(add-hook 'python-mode-hook #'eglot-ensure)
"""


def emacs_binaries() -> tuple[str, str, str]:
    found = [shutil.which(name) for name in ("emacs", "emacsclient", "tmux")]
    if not all(found):
        pytest.skip("emacs, emacsclient and tmux are needed")
    return found[0], found[1], found[2]  # type: ignore[return-value]


def elisp(value: Any) -> str:
    """A JSON-like value as Elisp: objects as plists (eglot's JSON encoding), strings with JSON escapes."""
    if isinstance(value, dict):
        return "(" + " ".join(f":{key} {elisp(item)}" for key, item in value.items()) + ")"
    if isinstance(value, bool):
        return "t" if value else ":json-false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value))


class Emacs:
    """One ``emacs -nw`` in tmux, visiting ``path`` with eglot started, and the waits the tests need."""

    def __init__(self, tmp: Path, path: Path, options: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.emacs, self.client, self.tmux = emacs_binaries()
        self.tmp = tmp
        home = tmp / "home"
        state = tmp / "state"
        server_dir = tmp / "emacs-server"
        for folder in (home, state / "tmp", server_dir):
            folder.mkdir(parents=True, exist_ok=True)
        server_dir.chmod(0o700)
        init = tmp / "init.el"
        init.write_text(
            INIT.format(server_dir=elisp(str(server_dir)), python=elisp(sys.executable), options=elisp(options)),
            encoding="utf-8",
        )
        self.socket = server_dir / "server"
        self.tmux_socket = tmp / "tmux.sock"
        environment = {
            "HOME": str(home),
            "TERM": "xterm-256color",
            "KIMI_API_KEY": STAND_IN_KEY,
            "KIMI_LSP_STATE_DIR": str(state),
            "TMPDIR": str(state / "tmp"),
            **(env or {}),
        }
        command = ["env", "-u", "MOONSHOT_API_KEY", "-u", "KIMI_BASE_URL", "-u", "KIMI_MODEL"]
        command += [f"{key}={value}" for key, value in environment.items()]
        command += [self.emacs, "-nw", "-q", "--no-splash", "-l", str(init), str(path)]
        session = ["new-session", "-d", "-x", "220", "-y", "40", shlex.join(command)]
        subprocess.run([self.tmux, "-S", str(self.tmux_socket), "-f", "/dev/null", *session], check=True)
        self.wait(lambda: self.socket.exists(), "the Emacs server socket")
        self.wait_eval("(and (eglot-current-server) t)", "eglot to connect", buffer=path.name)

    # --- looking ----------------------------------------------------------------------------------

    def screen(self) -> str:
        """The terminal as the user sees it now."""
        out = subprocess.run(
            [self.tmux, "-S", str(self.tmux_socket), "capture-pane", "-p"], capture_output=True, text=True, check=True
        )
        return out.stdout

    def eval(self, expression: str, buffer: str | None = None) -> str:
        """Evaluate ``expression`` in the running Emacs (in ``buffer`` if given); its printed value."""
        if buffer is not None:
            expression = f"(with-current-buffer {elisp(buffer)} {expression})"
        out = subprocess.run(
            [self.client, "-s", str(self.socket), "--eval", expression],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if out.returncode != 0:
            raise AssertionError(f"emacsclient failed on {expression}: {out.stderr}")
        return out.stdout.strip()

    def text(self, buffer: str) -> str:
        printed = self.eval("(json-encode (buffer-substring-no-properties (point-min) (point-max)))", buffer)
        return str(json.loads(json.loads(printed)))  # printed as an Elisp string holding the JSON

    def messages(self) -> str:
        """Everything shown in the echo area so far (``*Messages*``)."""
        return self.text("*Messages*")

    def action_titles(self, buffer: str) -> list[str]:
        """The code actions eglot gets for the whole of ``buffer`` (it sends pending changes first)."""
        titles = self.eval(
            "(json-encode (vconcat (mapcar (lambda (a) (plist-get a :title))"
            " (eglot-code-actions (point-min) (point-max)))))",
            buffer,
        )
        return list(json.loads(json.loads(titles)))

    # --- doing --------------------------------------------------------------------------------------

    def keys(self, *keys: str) -> None:
        """Type ``keys`` (tmux key names: "M-x", "Enter", or literal text)."""
        subprocess.run([self.tmux, "-S", str(self.tmux_socket), "send-keys", *keys], check=True)

    def type_minibuffer(self, text: str) -> None:
        """Type ``text`` into a completing prompt: spaces quoted (C-q SPC), since SPC there completes a word."""
        for index, word in enumerate(text.split(" ")):
            if index:
                self.keys("C-q", "Space")
            if word:
                self.keys("-l", word)

    def command(self, name: str) -> None:
        """Run an interactive command the way a user does: M-x NAME RET."""
        self.keys("M-x")
        self.wait_screen(lambda s: "M-x" in s.splitlines()[-1], "the M-x prompt")
        self.keys("-l", name)
        self.keys("Enter")

    def code_action(self, title: str) -> None:
        """M-x eglot-code-actions, then pick ``title`` from its prompt."""
        self.command("eglot-code-actions")
        self.wait_screen(lambda s: "Pick an action" in s, "the code action prompt")
        self.type_minibuffer(title)
        self.keys("Enter")

    # --- waiting ------------------------------------------------------------------------------------

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        """Poll ``condition`` until it is truthy; its value, or an AssertionError showing the screen."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen:\n{self.screen()}")
            time.sleep(0.05)

    def wait_screen(self, predicate: Callable[[str], Any], what: str, timeout: float = 30.0) -> str:
        found: list[str] = []

        def check() -> bool:
            screen = self.screen()
            found[:] = [screen]
            return bool(predicate(screen))

        self.wait(check, what, timeout)
        return found[0]

    def wait_eval(self, expression: str, what: str, buffer: str | None = None, timeout: float = 30.0) -> str:
        def check() -> str | None:
            try:
                value = self.eval(expression, buffer)
            except AssertionError:
                return None
            return value if value not in ("nil", "") else None

        return str(self.wait(check, what, timeout))

    def close(self) -> None:
        try:
            self.eval("(kill-emacs)")
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        subprocess.run([self.tmux, "-S", str(self.tmux_socket), "kill-server"], capture_output=True)
