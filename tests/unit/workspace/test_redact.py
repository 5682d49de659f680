"""Secrets found by their content stay away from the model, wherever the text comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.testing import tool_call as call
from kimi_lsp.workspace.redact import MARK, Redactor, is_secret_env_name

# Made-up credentials in the shapes the services issue.
KEY_BODY = [
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "QyNTUxOQAAACBxVGhpcyBpcyBub3QgYSByZWFsIGtleSBidXQgaXQgbG9va3MgbGlrZS",
    "BvbmUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
]
OPENSSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(KEY_BODY) + "\n-----END OPENSSH PRIVATE KEY-----\n"
TOKENS = [
    "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstu",
    "AKIA" + "IOSFODNN7EXAMPLE",
    "xoxb-" + "123456789012-abcdefghijkl",
    "sk-" + "proj-abcdefghijklmnopqrstuvwxyz0123",
    "sk_live_" + "abcdefghijklmnopqrstuvwx",
    "AIza" + "SyA-abcdefghijklmnopqrstuvwxyz01234",
    "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "deploy").mkdir(parents=True)
    # An ordinary name: the path policy cannot know it is a key.
    (root / "deploy" / "deploy_key").write_text(OPENSSH_KEY)
    (root / "deploy" / "notes.txt").write_text("before\n" + OPENSSH_KEY + "after\n")
    return root


async def test_a_private_key_under_an_ordinary_name_is_withheld_by_read_file(ws: Path) -> None:
    box = Toolbox(ws, test_command=None)
    whole = await box.run(call("ReadFile", {"path": "deploy/notes.txt"}))
    assert whole.ok
    assert not any(part in whole.text for part in KEY_BODY)
    assert "     1\tbefore\n" in whole.text and "     7\tafter\n" in whole.text  # line numbers stay true
    assert "private key withheld" in whole.text
    # A window that starts inside the key has no BEGIN line of its own.
    inside = await box.run(call("ReadFile", {"path": "deploy/deploy_key", "line_offset": 3, "n_lines": 2}))
    assert inside.ok and not any(part in inside.text for part in KEY_BODY), inside.text


async def test_grep_never_shows_a_line_of_a_key(ws: Path) -> None:
    box = Toolbox(ws, test_command=None)
    grep = await box.run(call("Grep", {"pattern": "AAAA|after"}))
    assert "deploy/notes.txt:7: after" in grep.text
    assert not any(part in grep.text for part in KEY_BODY), grep.text


def test_token_shapes_and_url_passwords_are_replaced_and_ordinary_code_is_not() -> None:
    redact = Redactor()
    text = "\n".join(f"token = {token!r}" for token in TOKENS)
    text += "\nDATABASE = 'postgres://app:hunter2-db-pass@db.internal:5432/app'\n"
    out = redact(text)
    assert not any(token in out for token in TOKENS)
    assert "hunter2-db-pass" not in out and "postgres://app:" in out and "@db.internal:5432/app" in out
    assert out.count("\n") == text.count("\n")
    code = "def task_runner(sk_args):\n    return 'sk-' + name  # AKIA prefix check\nurl = 'https://example.com/a'\n"
    assert redact(code) == code


def test_secret_environment_values_are_replaced_wherever_they_appear() -> None:
    env = {
        "GH_PAT": "a-personal-access-token-value",
        "SENTRY_DSN": "https://0123456789abcdef@o1.ingest.example.io/42",
        "NPM_AUTH": "npm-auth-value-1234",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE12",
        "DATABASE_URL": "postgres://user:db-password-42@localhost/app",
        "PWD": "/home/user/project",
        "SHORT_TOKEN": "abc",
        "PATH": "/usr/bin:/bin",
    }
    redact = Redactor.from_env(env)
    printed = "\n".join(f"{name}={value}" for name, value in env.items())
    out = redact(printed)
    for name in ("GH_PAT", "SENTRY_DSN", "NPM_AUTH", "AWS_ACCESS_KEY_ID"):
        assert env[name] not in out and f"{name}={MARK}" in out
    assert "db-password-42" not in out and "postgres://user:" in out
    assert "PWD=/home/user/project" in out and "PATH=/usr/bin:/bin" in out and "SHORT_TOKEN=abc" in out


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GH_PAT", True),
        ("SENTRY_DSN", True),
        ("NPM_AUTH", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD", True),
        ("SLACK_TOKEN", True),
        ("PATH", False),
        ("PWD", False),
        ("SSH_AUTH_SOCK", False),
        ("KEYBOARD_LAYOUT", False),
        ("PATHEXT", False),
    ],
)
def test_secret_environment_names(name: str, secret: bool) -> None:
    assert is_secret_env_name(name) is secret
