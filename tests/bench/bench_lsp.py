"""Language-server benchmark against a bare pygls floor (run on demand: ``python tests/bench/bench_lsp.py``).

(a) Code-action latency over stdio: the real server (``python -m kimi_lsp``) and a bare pygls 2 server
    (``_bare_server.py``: one static CodeAction) are started the same way with pytest-lsp's client and VS Code's
    capabilities; a document is opened and ``textDocument/codeAction`` requests (one diagnostic in the context,
    a non-empty range) are timed round trip, one request to each server in turn, in the same run. A third
    server, the bare one answering as many actions as the real one, shows what the answer's size costs.
    Goal: the real server's p50 and p99 within 1.5x of the floor's.
(b) Idle memory on Django's sources: each server gets the Django repository as rootUri and workspace folder
    (the real one with initializationOptions ``{testCommand: "true"}``), a few files are opened, a request is
    answered (idle), then VmRSS and VmHWM are read from ``/proc/<pid>/status``.

``--profile`` runs the real server under cProfile for part (a) and prints its top cumulative entries.
No model is contacted: code actions never reach it, and the base URL points at a closed loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, cast

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import django_repo

BARE = Path(__file__).resolve().parent / "_bare_server.py"
REAL_COMMAND = [sys.executable, "-m", "kimi_lsp"]
BARE_COMMAND = [sys.executable, str(BARE)]
REQUESTS = 500
WARMUP = 50
GOAL_RATIO = 1.5
DJANGO_FILES = (
    "django/db/models/query.py",
    "django/db/models/base.py",
    "django/http/request.py",
    "django/urls/resolvers.py",
)
SOURCE = "def area(width, height):\n    '''Area of a rectangle.'''\n    return width + height\n" * 20


@dataclass
class Server:
    name: str
    client: LanguageClient
    pid: int


def _fix_code_action_parsing(client: LanguageClient) -> None:
    """lsprotocol's client converter reads any action with a ``command`` key as a bare Command; a CodeAction's
    ``command`` is an object while a Command's is a string (same workaround as tests/e2e/editor.py)."""
    converter = client.protocol._converter

    def hook(obj: Any, _type: Any) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY", "KIMI_BASE_URL")}
    (state / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "KIMI_API_KEY": "bench-key-not-a-secret",
            "KIMI_BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens: no request may leave the machine
            "KIMI_LSP_STATE_DIR": str(state),
            "TMPDIR": str(state / "tmp"),
        }
    )
    return env


async def start(name: str, command: list[str], root: Path, state: Path, options: dict[str, Any]) -> Server:
    config = ClientServerConfig(server_command=command, client_factory=make_test_lsp_client, server_env=_env(state))
    client = cast(LanguageClient, await config.start())  # make_test_lsp_client makes a LanguageClient
    _fix_code_action_parsing(client)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(_client: LanguageClient, _params: types.RegistrationParams) -> None:
        return None  # accepted, as VS Code does

    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(root.as_uri(), root.name)],
            initialization_options=options,
        )
    )
    process = client._server
    if process is None:
        raise SystemExit(f"{name}: the server process did not start")
    return Server(name, client, process.pid)


def open_file(server: Server, path: Path) -> str:
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8")
    server.client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
    )
    return uri


def action_params(uri: str) -> types.CodeActionParams:
    diagnostic = types.Diagnostic(
        range=types.Range(types.Position(2, 4), types.Position(2, 25)),
        message="AssertionError: 7 != 12",
        severity=types.DiagnosticSeverity.Error,
        source="unittest",
    )
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri),
        range=types.Range(types.Position(1, 4), types.Position(2, 25)),
        context=types.CodeActionContext(diagnostics=[diagnostic], trigger_kind=types.CodeActionTriggerKind.Invoked),
    )


async def time_actions(server: Server, params: types.CodeActionParams, count: int) -> tuple[list[float], int]:
    """Round-trip seconds of ``count`` sequential code-action requests, and the actions in the last answer."""
    times: list[float] = []
    answer: Any = None
    for _ in range(count):
        began = time.perf_counter()
        answer = await server.client.text_document_code_action_async(params)
        times.append(time.perf_counter() - began)
    return times, len(answer or [])


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of a process (all threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)


async def wait_idle(pid: int, quiet: float = 1.0, timeout: float = 180.0) -> float:
    """Wait until the process has used no CPU for ``quiet`` seconds (background work such as indexing done);
    returns the seconds waited."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    last, since = cpu_ticks(pid), began
    while loop.time() - since < quiet:
        if loop.time() - began > timeout:
            raise SystemExit(f"server {pid} still busy after {timeout:g} s")
        await asyncio.sleep(0.1)  # polling /proc with a deadline: there is no event for "idle"
        ticks = cpu_ticks(pid)
        if ticks != last:
            last, since = ticks, loop.time()
    return since - began


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


async def latency(state: Path, profile_to: Path | None) -> bool:
    project = state / "project"
    project.mkdir()
    (project / "shapes.py").write_text(SOURCE, encoding="utf-8")
    options = {"testCommand": "true"}
    real_command = REAL_COMMAND
    if profile_to is not None:
        real_command = [sys.executable, "-m", "cProfile", "-o", str(profile_to), "-m", "kimi_lsp"]
    real = await start("kimi-lsp", real_command, project, state / "real", options)
    bare = await start("bare pygls", BARE_COMMAND, project, state / "bare", options)
    servers = [real, bare]
    times: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    try:
        params = {server.name: action_params(open_file(server, project / "shapes.py")) for server in servers}
        _, counts[real.name] = await time_actions(real, params[real.name], 1)
        if counts[real.name] > 1:
            # The same answer size from the bare server tells the cost of a bigger answer (lsprotocol on both
            # ends) apart from the cost of kimi-lsp's own handler.
            same = await start(f"bare x{counts[real.name]}", [*BARE_COMMAND, str(counts[real.name])], project,
                               state / "same", options)  # fmt: skip
            servers.append(same)
            params[same.name] = action_params(open_file(same, project / "shapes.py"))
        for server in servers:
            times[server.name] = []
            await time_actions(server, params[server.name], WARMUP)
        # One request to each server in turn, so that load from elsewhere on the machine hits all alike.
        for _ in range(REQUESTS):
            for server in servers:
                sample, counts[server.name] = await time_actions(server, params[server.name], 1)
                times[server.name].extend(sample)
    finally:
        for server in servers:
            await server.client.shutdown_session()

    print(f"(a) code-action round trip over stdio, {REQUESTS} requests each (after {WARMUP} warm-up), interleaved")
    for name, values in times.items():
        print(
            f"  {name:<11} p50 {ms(statistics.median(values))}  p99 {ms(percentile(values, 0.99))}  "
            f"mean {ms(statistics.fmean(values))}  max {ms(max(values))}  ({counts[name]} action(s) per answer)"
        )
    ok = True
    for floor in servers[1:]:
        p50 = statistics.median(times[real.name]) / statistics.median(times[floor.name])
        p99 = percentile(times[real.name], 0.99) / percentile(times[floor.name], 0.99)
        if floor is bare:
            ok = p50 <= GOAL_RATIO and p99 <= GOAL_RATIO
            goal = f" (goal <= {GOAL_RATIO}x) -> {verdict(ok)}"
        else:
            goal = " (same answer size)"
        print(f"  ratio kimi-lsp / {floor.name}: p50 {p50:.2f}x, p99 {p99:.2f}x{goal}")
    if profile_to is not None:
        stats = pstats.Stats(str(profile_to))
        print("\n  cProfile of the real server: request handling, top cumulative entries:")
        stats.sort_stats("cumulative").print_stats(r"kimi_lsp/lsp|pygls/(protocol|io_|server)|cattrs|json", 25)
        print("  ... and the top own-time entries (whole process life):")
        stats.sort_stats("tottime").print_stats(15)
    return ok


async def idle_memory(state: Path) -> None:
    root = django_repo()
    results: dict[str, dict[str, int]] = {}
    for name, command, options in (
        ("kimi-lsp", REAL_COMMAND, {"testCommand": "true"}),
        ("bare pygls", BARE_COMMAND, {}),
    ):
        began = time.perf_counter()
        server = await start(name, command, root, state / f"mem-{name.replace(' ', '-')}", options)
        try:
            uris = [open_file(server, root / relpath) for relpath in DJANGO_FILES]
            # Answered in order after the opens: once this returns, the server has handled everything sent.
            await server.client.text_document_code_action_async(action_params(uris[0]))
            ready = time.perf_counter() - began
            answered = memory(server.pid)
            busy = await wait_idle(server.pid)
            # Idle, and still answering: a last request checks the server did not stall on its background work.
            await server.client.text_document_code_action_async(action_params(uris[0]))
            results[name] = {**memory(server.pid), "answered_rss": answered["VmRSS"]}
            results[name]["ready_ms"] = round(ready * 1000)
            results[name]["busy_ms"] = round(busy * 1000)
        finally:
            await server.client.shutdown_session()

    print(f"\n(b) idle memory with {root} as the workspace ({len(DJANGO_FILES)} files open)")
    for name, figures in results.items():
        print(
            f"  {name:<11} idle VmRSS {figures['VmRSS'] / 1024:.1f} MiB  VmHWM {figures['VmHWM'] / 1024:.1f} MiB  "
            f"(VmRSS at the first answer {figures['answered_rss'] / 1024:.1f} MiB; start to first answer "
            f"{figures['ready_ms']} ms; background work after it {figures['busy_ms']} ms)"
        )
    real, bare = results["kimi-lsp"], results["bare pygls"]
    print(
        f"  kimi-lsp over the floor: VmRSS +{(real['VmRSS'] - bare['VmRSS']) / 1024:.1f} MiB "
        f"({real['VmRSS'] / bare['VmRSS']:.2f}x), VmHWM +{(real['VmHWM'] - bare['VmHWM']) / 1024:.1f} MiB"
    )


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"


async def main_async(profile: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="kimi-bench-lsp-") as tmp:
        state = Path(tmp)
        ok = await latency(state, state / "real.prof" if profile else None)
        await idle_memory(state)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="kimi-lsp code-action latency and idle memory vs bare pygls")
    parser.add_argument("--profile", action="store_true", help="run the real server under cProfile in part (a)")
    args = parser.parse_args()
    return asyncio.run(main_async(args.profile))


if __name__ == "__main__":
    sys.exit(main())
