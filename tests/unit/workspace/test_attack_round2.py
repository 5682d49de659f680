"""Round two of attacks on the workspace layer (issue 10): each test names what still gets through today.

Every test here fails on today's code and is marked ``xfail(strict=True)``: when the hole is closed the test
passes, strict turns that into a failure, and the marker must go. A test that creates a link or a hard link
stands in for a test process, which runs in the shadow and can make any of them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import unicodedata
from pathlib import Path

import pytest

from kimi_lsp.agent.shadow import Shadow
from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.agent.writeback import apply_changes
from kimi_lsp.errors import KimiError, ToolError
from kimi_lsp.settings import SPECS, Settings, load_settings
from kimi_lsp.testing import tool_call as call
from kimi_lsp.workspace.paths import resolve_in_root
from kimi_lsp.workspace.policy import is_secret_path
from kimi_lsp.workspace.redact import Redactor

KEY_BODY = [
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "QoWyDoQwGyy2Zkp18gnTxKbwKfBstIs+bMYVTLw7onLRnrq0/IzW7yWR7QkrmBLe",
]
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(KEY_BODY) + "\n-----END RSA PRIVATE KEY-----\n"
DEFAULTS = Settings()


def as_the_model_sees(text: str) -> str:
    """What the loop sends: every tool result passes through the job's redactor (here without env values)."""
    return Redactor.from_env({})(text)


def make_ws(tmp_path: Path) -> Path:
    """The workspace these tests (and their integration neighbours) work in."""
    root = tmp_path / "ws"
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "deploy_key").write_text(PRIVATE_KEY, encoding="utf-8")
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("OUTSIDE-CONTENT of a file the model must never see\n", encoding="utf-8")
    return root


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_ws(tmp_path)


# -- (3) what reaches the model: key lines through the edit tools ---------------------------------------------

EDIT_PROBES = {
    # A failed StrReplaceFile shows "the most similar text": lines of the key, without its BEGIN line.
    "str_replace_nearest_text": call(
        "StrReplaceFile",
        {"path": "deploy/deploy_key", "edit": {"old": "A\nB\nC\n-----END RSA PRIVATE KEY----", "new": "y"}},
    ),
    # A failed ApplyPatch hunk shows the "nearest text" the same way.
    "apply_patch_nearest_text": call(
        "ApplyPatch",
        {
            "patch": "--- a/deploy/deploy_key\n+++ b/deploy/deploy_key\n@@ -1,3 +1,2 @@\n-zzzz\n-yyyy\n+q\n"
            " -----END RSA PRIVATE KEY-----\n"
        },
    ),
    # A successful edit of the BEGIN line shows the lines after it: the whole key body.
    "str_replace_view_after_edit": call(
        "StrReplaceFile",
        {"path": "deploy/deploy_key", "edit": {"old": "-----BEGIN RSA PRIVATE KEY-----", "new": "x"}},
    ),
}


@pytest.mark.parametrize("probe", sorted(EDIT_PROBES))
async def test_edit_tools_never_show_the_lines_of_a_private_key(ws: Path, probe: str) -> None:
    result = await Toolbox(ws, test_command=None).run(EDIT_PROBES[probe])
    seen = as_the_model_sees(result.text)
    assert "KEY" in seen.upper()  # the probe reached the file (the answer names the key, or its BEGIN/END line)
    leaked = [line[:12] for line in KEY_BODY if line in seen]
    assert not leaked, seen


async def test_read_file_after_the_begin_line_is_edited_away_still_withholds_the_key(ws: Path) -> None:
    box = Toolbox(ws, test_command=None)
    edit = {"old": "-----BEGIN RSA PRIVATE KEY-----", "new": "# key"}
    edited = await box.run(call("StrReplaceFile", {"path": "deploy/deploy_key", "edit": edit}))
    # Either the edit is refused (kimi-lsp does not edit keys), or the key stays withheld after it.
    assert edited.ok or "private key" in edited.text
    seen = as_the_model_sees((await box.run(call("ReadFile", {"path": "deploy/deploy_key"}))).text)
    assert not [line for line in KEY_BODY if line in seen], seen


async def test_a_window_inside_a_key_whose_begin_line_starts_late_is_withheld(ws: Path) -> None:
    # A long name (or deep indentation) before the key: BEGIN starts after column 80.
    name = "PRODUCTION_BASTION_HOST_DEPLOY_PRIVATE_KEY_FOR_THE_CI_PIPELINE_AND_RELEASES"
    (ws / "settings.py").write_text(f'{name} = """{PRIVATE_KEY}"""\n', encoding="utf-8")
    assert (ws / "settings.py").read_text(encoding="utf-8").index("-----BEGIN") > 80
    result = await Toolbox(ws, test_command=None).run(call("ReadFile", {"path": "settings.py", "line_offset": 2}))
    seen = as_the_model_sees(result.text)
    assert "private key withheld" in seen  # the window reached the key
    assert not [line for line in KEY_BODY if line in seen], seen


# -- (3) secrets by content the redactor does not know --------------------------------------------------------

_PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMw\n"
_PEM += "-----END OPENSSH PRIVATE KEY-----\n"
# Made-up values in the shapes the services issue (split so that secret scanners leave this file alone).
UNCOVERED = {
    # Kubernetes secrets and kubeconfigs (any file name) hold keys base64-encoded: "LS0tLS1CRUdJTi..."
    "base64_pem_in_yaml": "  tls.key: " + base64.b64encode(_PEM.encode()).decode(),
    "base64_pem_kubeconfig": "    client-key-data: " + base64.b64encode(_PEM.encode()).decode(),
    "ssh2_private_key": "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n"
    "P2/56wAAAi4AAAA3aWYtbW9kbntzaWdue3JzYS1wa2NzMS1zaGExfSxlbmNyeXB0e3JzYS1w\n"
    "---- END SSH2 ENCRYPTED PRIVATE KEY ----",
    "putty_private_lines": "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\n"
    "AAAAIFcIhq3fZnt7Kq4bBvD2xN9pLmQ8rT6wY5uE1sA0zC3v\nPrivate-MAC: 8a0b",
    "sendgrid": "SG." + "ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    "azure_storage_account_key": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="
    + "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4ZmFrZQ==;EndpointSuffix=core.windows.net",
    "slack_webhook_url": "https://hooks.slack.com/services/" + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "slack_app_token": "xapp-" + "1-A0123456789-1234567890123-abcdef0123456789abcdef0123456789abcdef",
    "stripe_test_key": "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dcABCDEF",
    "stripe_webhook_secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "google_oauth_client_secret": "GOCSPX-" + "1r0aNcG8gddWyEgR6RWaAiJKr2SW",
    "digitalocean": "dop_v1_" + "4c3a1f2e9d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
    "shopify": "shpat_" + "4c3a1f2e9d8b7a6c5d4e3f2a1b0c9d8e",
    "vault": "hvs." + "CAESIJ4mVhzS0Yq7LmN2pR8tU3wX6yZ9aB1cD4eF7gH0iJ",
    "docker_hub": "dckr_pat_" + "2bd3a4c5d6e7f8a9b0c1d2e3f4a5",
    "gitlab_runner": "glrt-" + "t1_QW4gL0mtYzBxPz9KxYy3",
    "aws_secret_in_json": '"SecretAccessKey": "' + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" + '"',
    "django_secret_key": "SECRET_KEY = 'django-insecure-" + "8k@f#2z!x9q$w7v^b3n&m1l*p0o(i)u'",
}


@pytest.mark.parametrize("kind", sorted(UNCOVERED))
def test_other_well_known_secret_shapes_are_withheld(kind: str) -> None:
    text = UNCOVERED[kind]
    assert as_the_model_sees(text) != text


# -- (2) tool reads and writes: hard links and links a test left in the shadow --------------------------------


async def test_read_file_and_grep_refuse_a_hard_link_to_a_file_outside(ws: Path) -> None:
    os.link(ws.parent / "outside.txt", ws / "notes.txt")  # what a test in the shadow can do
    box = Toolbox(ws, test_command=None)
    read = await box.run(call("ReadFile", {"path": "notes.txt"}))
    grep = await box.run(call("Grep", {"pattern": "OUTSIDE"}))
    assert "OUTSIDE-CONTENT" not in read.text + grep.text


async def test_write_file_never_changes_a_file_outside_through_a_hard_link(ws: Path) -> None:
    outside = ws.parent / "outside.txt"
    before = outside.read_bytes()
    os.link(outside, ws / "notes.txt")
    box = Toolbox(ws, test_command=None)
    await box.run(call("WriteFile", {"path": "notes.txt", "content": "written by the model\n"}))
    await box.run(call("StrReplaceFile", {"path": "notes.txt", "edit": {"old": "OUTSIDE", "new": "MODEL"}}))
    assert outside.read_bytes() == before


def test_the_result_never_carries_a_file_outside_that_a_test_linked_in(ws: Path) -> None:
    with Shadow.create(ws, base_dir=ws.parent) as shadow:
        asyncio.run(
            Toolbox(shadow.root, test_command=None).run(
                call("StrReplaceFile", {"path": "calc.py", "edit": {"old": "a - b", "new": "a + b"}})
            )
        )
        # A test then swaps the edited file for a link to any file of the user's.
        (shadow.root / "calc.py").unlink()
        (shadow.root / "calc.py").symlink_to(ws.parent / "outside.txt")
        diff = shadow.diff()
    carried = diff.unified + "".join(change.new_text or "" for change in diff.changes)
    assert "OUTSIDE-CONTENT" not in carried, diff.unified


# -- (4) what reaches the user's tree -------------------------------------------------------------------------


def test_apply_writes_only_the_path_named_in_files_never_a_link_target(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    # A cloned repository may track a link; .vscode is never copied into the shadow, so the link dangles there
    # and a test can replace it by a regular file that the model then writes.
    (root / "src" / "util.py").symlink_to("../.vscode/tasks.json")
    change = FileChange("src/util.py", None, '{"tasks": [{"runOptions": {"runOn": "folderOpen"}}]}\n')
    with pytest.raises(KimiError):
        apply_changes(root, [change])
    assert not (root / ".vscode" / "tasks.json").exists()


ODD_NAMES = {
    "right_to_left_override": "tests/test_\u202eyp.txt",  # shown as tests/test_txt.py
    "line_separator": "a\u2028diff --git a/z b/z.py",  # a line break for str.splitlines() and many editors
    "next_line_c1": "a\u0085b.py",  # C1 NEL, also a line break for str.splitlines()
    "zero_width_space": "calc\u200b.py",  # looks exactly like calc.py
    "nfd_twin": unicodedata.normalize("NFD", "café.py"),  # looks exactly like the NFC name next to it
}


@pytest.mark.parametrize("kind", sorted(ODD_NAMES))
def test_invisible_or_line_breaking_characters_in_paths_are_refused(ws: Path, kind: str) -> None:
    (ws / "café.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(ToolError):
        resolve_in_root(ws, ODD_NAMES[kind])


# -- (5) limits a workspace file can set ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["testTimeout", "maxWallTime", "requestTimeout"])
def test_a_workspace_file_cannot_lift_a_time_limit_with_nan(tmp_path: Path, key: str) -> None:
    # asyncio.wait_for(..., nan) never times out, and `elapsed > nan` is never true: no limit at all.
    (tmp_path / ".kimi-lsp.toml").write_text(f"{key} = nan\n", encoding="utf-8")
    loaded = load_settings(tmp_path, env={}, lenient=True)
    value = getattr(loaded.settings, SPECS[key].attr)
    assert value <= getattr(DEFAULTS, SPECS[key].attr)


@pytest.mark.parametrize(("key", "value"), [("connectTimeout", 300), ("retryBaseDelay", 60)])
def test_a_workspace_file_cannot_raise_the_waits_between_attempts(tmp_path: Path, key: str, value: int) -> None:
    (tmp_path / ".kimi-lsp.toml").write_text(f"{key} = {value}\n", encoding="utf-8")
    settings = load_settings(tmp_path, env={}).settings
    assert getattr(settings, SPECS[key].attr) <= getattr(DEFAULTS, SPECS[key].attr)


# -- (2) huge files: time, not memory ------------------------------------------------------------------------


def _bytes_read() -> int:
    with open("/proc/self/io", encoding="ascii") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


@pytest.mark.timeout(120)
async def test_read_file_of_a_few_lines_does_not_read_the_whole_file(ws: Path) -> None:
    # A test can make a sparse file of a terabyte in no time; counting its lines takes hours, in a thread
    # that cancelling the job does not stop. 1 GiB is enough to show the read goes through all of it.
    (ws / "big.log").write_bytes(b"first line\n" * 1000)  # text through the first 8 KB: not sniffed as binary
    os.truncate(ws / "big.log", 1 << 30)
    before = _bytes_read()
    result = await Toolbox(ws, test_command=None).run(call("ReadFile", {"path": "big.log", "n_lines": 1}))
    assert "first line" in result.text
    assert _bytes_read() - before < 64 << 20


SLOW_GLOB = "*a*a*a*a*a*a*a*a*a*a*a*a*b"  # nested stars backtrack on a long name of a's: O(n**12) steps


# -- (3) secret files by name that the policy does not know ---------------------------------------------------

UNKNOWN_SECRET_FILES = [
    ".my.cnf",  # MySQL client password
    ".databrickscfg",  # Databricks token
    "application_default_credentials.json",  # gcloud ADC: a refresh token
    ".kaggle/kaggle.json",  # Kaggle API key
    ".terraformrc",  # Terraform Cloud token
    ".sentryclirc",  # Sentry auth token
    "serviceAccountKey.json",  # the Firebase Admin SDK's usual name for a service-account key
    "firebase-adminsdk-abc12-0123456789.json",  # the name the Firebase console downloads it under
    "token.json",  # Google API quickstarts store the user's OAuth tokens here
    "token.pickle",
    ".clasprc.json",  # Google Apps Script CLI OAuth tokens
    "rclone.conf",  # cloud storage credentials
    "client.ovpn",  # OpenVPN profile with the client key inline
    ".config/hub",  # hub CLI GitHub token
    ".aws/sso/cache/0123abcd.json",  # AWS SSO access tokens
    ".azure/msal_token_cache.json",  # Azure CLI tokens
    ".bash_history",  # commands typed with tokens in them
]


@pytest.mark.parametrize("relpath", UNKNOWN_SECRET_FILES)
def test_well_known_credential_files_are_secret_by_name(relpath: str) -> None:
    assert is_secret_path(relpath)
