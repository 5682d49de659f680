"""The server over raw stdio: malformed frames and unknown methods get errors, and the server stays up."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def frame(payload: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(payload) + payload


def send(stdin: IO[bytes], message: dict[str, Any]) -> None:
    stdin.write(frame(json.dumps(message).encode("utf-8")))
    stdin.flush()


def read_message(stdout: IO[bytes]) -> dict[str, Any]:
    length = 0
    while True:
        line = stdout.readline()
        assert line, "the server closed its output"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    return json.loads(stdout.read(length))


class Reader:
    """Reads the server's messages on a thread, so a missing answer fails the test instead of hanging it."""

    def __init__(self, stdout: IO[bytes]) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._run, args=(stdout,), daemon=True).start()

    def _run(self, stdout: IO[bytes]) -> None:
        try:
            while True:
                self.messages.put(read_message(stdout))
        except (AssertionError, ValueError, OSError):
            return

    def response_to(self, request_id: Any, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no answer to request {request_id}"
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.get("id") == request_id and "method" not in message:
                return message


def initialize(request_id: int, root: Path) -> dict[str, Any]:
    params = {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


@contextlib.contextmanager
def stdio_server(cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], Reader]]:
    """``kimi-lsp`` on stdio in ``cwd`` (stderr kept for the test to read), killed if the test leaves it running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    try:
        yield process, Reader(process.stdout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_malformed_json_unknown_methods_and_bad_params_do_not_take_the_server_down(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert process.stdin is not None and process.stdout is not None
    reader = Reader(process.stdout)
    try:
        process.stdin.write(frame(b'{"jsonrpc": "2.0", "id": 99, "method": "initialize", "params": {'))  # cut JSON
        process.stdin.flush()
        send(
            process.stdin,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}},
            },
        )
        initialized = reader.response_to(1)
        assert "kimi.fixTests" in initialized["result"]["capabilities"]["executeCommandProvider"]["commands"]
        send(process.stdin, {"jsonrpc": "2.0", "method": "initialized", "params": {}})

        send(process.stdin, {"jsonrpc": "2.0", "id": 2, "method": "kimi/noSuchMethod", "params": {}})
        assert reader.response_to(2)["error"]["code"] == -32601

        send(process.stdin, {"jsonrpc": "2.0", "id": 3, "method": "textDocument/codeAction", "params": {"bogus": 1}})
        assert "error" in reader.response_to(3)

        send(
            process.stdin,
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "workspace/executeCommand",
                "params": {"command": "kimi.refactor", "arguments": [{"uri": 12}]},
            },
        )
        assert "uri" in reader.response_to(4)["error"]["message"]

        # A document that was never opened: an empty answer, not a crash.
        send(
            process.stdin,
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "textDocument/codeAction",
                "params": {
                    "textDocument": {"uri": (tmp_path / "never_opened.py").as_uri()},
                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                    "context": {"diagnostics": []},
                },
            },
        )
        assert "result" in reader.response_to(5)

        send(process.stdin, {"jsonrpc": "2.0", "id": 6, "method": "shutdown", "params": None})
        assert reader.response_to(6)["result"] is None
        send(process.stdin, {"jsonrpc": "2.0", "method": "exit", "params": None})
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_tcp_mode_serves_lsp_on_the_given_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_lsp", "serve", "--tcp", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.05)
        with connection:
            stream = connection.makefile("rwb")
            reader = Reader(stream)
            send(
                stream,
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}},
                },
            )
            answer = reader.response_to(1)
            assert answer["result"]["serverInfo"]["name"] == "kimi-lsp"
    finally:
        process.kill()
        process.wait()


def test_absurd_headers_are_refused_and_the_server_answers_the_next_request(tmp_path: Path) -> None:
    with stdio_server(tmp_path) as (process, reader):
        assert process.stdin is not None and process.stderr is not None
        send(process.stdin, initialize(1, tmp_path))
        assert reader.response_to(1)["result"]["serverInfo"]["name"] == "kimi-lsp"
        # A length too long for int(), a header line with no end, then a body over the limit (sent in full).
        process.stdin.write(b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n")
        process.stdin.write(b"X-Junk: " + b"x" * 200_000 + b"\r\n")
        oversized = 70 * 1024 * 1024
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % oversized)
        process.stdin.write(b" " * oversized)
        process.stdin.flush()
        # The first refusal dropped everything after it (its declared length could not be read), so the
        # stream is over for the server: it must end cleanly, logging refusals, never a traceback.
        process.stdin.close()
        assert process.wait(timeout=60) == 0
        errors = process.stderr.read().decode("utf-8", "replace")
        assert "refused an LSP message with Content-Length 99999999999999999999…" in errors
        assert "Traceback" not in errors and "MemoryError" not in errors


def test_an_oversized_body_is_dropped_in_pieces_and_the_server_goes_on(tmp_path: Path) -> None:
    with stdio_server(tmp_path) as (process, reader):
        assert process.stdin is not None and process.stderr is not None
        oversized = 70 * 1024 * 1024
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % oversized + b" " * oversized)
        process.stdin.write(b"X-Junk: " + b"x" * 200_000 + b"\r\n")
        send(process.stdin, initialize(1, tmp_path))
        assert reader.response_to(1, timeout=60)["result"]["serverInfo"]["name"] == "kimi-lsp"
        send(process.stdin, {"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None})
        assert reader.response_to(2)["result"] is None
        send(process.stdin, {"jsonrpc": "2.0", "method": "exit", "params": None})
        assert process.wait(timeout=10) == 0
        errors = process.stderr.read().decode("utf-8", "replace")
        assert f"refused an LSP message with Content-Length {oversized}" in errors
        assert "refused an LSP header line longer than" in errors
        assert "Traceback" not in errors
