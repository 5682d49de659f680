"""`kimi-lsp`: the language server (default), `fix`, `context`, `doctor` and `demo`, all on one core."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kimi_lsp import __version__
from kimi_lsp.errors import EXIT_INTERRUPTED, EXIT_MODEL, EXIT_NOT_FIXED, EXIT_OK, EXIT_USAGE, KimiError
from kimi_lsp.settings import SPECS, LoadedSettings, Settings, load_settings
from kimi_lsp.terminal import SafeStream


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # bad usage exits 2 with one clear line, as the contract says
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"kimi-lsp: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kimi-lsp", description="Kimi K2 Thinking in your editor: verified fixes and refactors.")
    parser.add_argument("--version", action="version", version=f"kimi-lsp {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    serve = sub.add_parser("serve", help="run the language server (the default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="use stdio (the default)")

    fix = sub.add_parser("fix", help="fix failing tests (or follow an instruction) and print the verified diff")
    fix.add_argument("--root", type=Path, default=None, help="workspace folder (default: current folder)")
    fix.add_argument("--test", dest="test", metavar="CMD", help="the test command that must pass")
    fix.add_argument("--instruction", metavar="TEXT", help="what to change, instead of fixing failing tests")
    fix.add_argument("--file", metavar="PATH[:LINE]", help="the file (and line) to focus on")
    fix.add_argument("--apply", action="store_true", help="write a fixed result into the working tree")
    fix.add_argument("--json", action="store_true", help="print one JSON object instead of the diff")
    fix.add_argument("--max-steps", type=int, metavar="N")
    fix.add_argument("--base-url", metavar="URL")
    fix.add_argument("--model", metavar="NAME")

    context = sub.add_parser("context", help="print the prompt context kimi-lsp would send")
    context.add_argument("--root", type=Path, default=None)
    context.add_argument("--file", metavar="PATH[:LINE]")
    context.add_argument("--budget", type=int, metavar="TOKENS")
    context.add_argument("--json", action="store_true")

    sub.add_parser("doctor", help="check settings, key, endpoint, git and the test command")
    demo = sub.add_parser("demo", help="a scripted end-to-end fix against a local stand-in model (no key needed)")
    demo.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command in ("serve", "fix", "context", "doctor") and argv is None:
        # These start other programs (tests, git, which a repository's config can make run its own commands):
        # move the key out of this process's environment block before they start any.
        # (Only as a program: a caller that passes argv in-process must not have its process replaced.)
        from kimi_lsp import keyguard

        keyguard.take_key()
        keyguard.hide_key(sys.argv[1:])
    if command != "serve":  # the server's stdout is the LSP channel; everything else is read by a person
        sys.stdout = SafeStream(sys.stdout)  # type: ignore[assignment]
        sys.stderr = SafeStream(sys.stderr)  # type: ignore[assignment]
    try:
        if command == "serve":
            from kimi_lsp.lsp.server import serve

            return serve(tcp=getattr(args, "tcp", None))
        if command == "fix":
            return _run_async(_fix(args))
        if command == "context":
            return _context(args)
        if command == "doctor":
            return _run_async(_doctor())
        if command == "demo":
            from kimi_lsp.demo import run_demo

            return _run_async(run_demo(json_output=args.json))
    except KimiError as exc:
        print(f"kimi-lsp: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kimi-lsp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


def _run_async(coro: Any) -> int:
    """Run a command; Ctrl-C cancels the task (closing streams, killing tests) instead of tearing it down."""

    async def runner() -> int:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (NotImplementedError, RuntimeError):
            pass
        try:
            return int(await task)
        except asyncio.CancelledError:
            print("kimi-lsp: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return asyncio.run(runner())


def parse_file_arg(value: str | None, root: Path) -> tuple[str | None, int | None]:
    """``PATH[:LINE]`` → (workspace-relative posix path, line). A missing file is a usage error."""
    if not value:
        return None, None
    path_text, line = value, None
    head, sep, tail = value.rpartition(":")
    if sep and tail.isdigit() and head:
        path_text, line = head, int(tail)
        if line < 1:
            raise KimiError(f"--file {value}: line numbers start at 1")
    path = Path(path_text)
    absolute = path if path.is_absolute() else (Path.cwd() / path)
    if not absolute.exists() and not path.is_absolute():
        absolute = root / path
    try:
        relative = absolute.resolve().relative_to(root.resolve())
    except ValueError:
        raise KimiError(f"--file {value}: not inside the workspace {root}") from None
    if not absolute.is_file():
        raise KimiError(f"--file {value}: no such file")
    return relative.as_posix(), line


def _load(root: Path, cli: dict[str, Any]) -> LoadedSettings:
    loaded = load_settings(root, cli=cli)
    for warning in loaded.warnings:
        print(f"kimi-lsp: warning: {warning}", file=sys.stderr)
    return loaded


def _root(value: Path | None) -> Path:
    root = (value or Path.cwd()).resolve()
    if not root.is_dir():
        raise KimiError(f"--root {root}: not a folder")
    return root


async def _fix(args: argparse.Namespace) -> int:
    from kimi_lsp.agent.jobdata import JobRequest
    from kimi_lsp.model.client import ModelClient

    root = _root(args.root)
    cli = {
        "testCommand": args.test,
        "maxSteps": args.max_steps,
        "baseUrl": args.base_url,
        "model": args.model,
    }
    settings = _load(root, cli).settings
    if not settings.test_command:
        raise KimiError("no test command: pass --test CMD (the command that must pass once the fix is in)")
    if not settings.api_key:
        raise KimiError("no API key: set KIMI_API_KEY (or MOONSHOT_API_KEY) in the environment")
    target, line = parse_file_arg(args.file, root)
    request = JobRequest(
        root=root,
        kind="refactor" if args.instruction else "fix_tests",
        instruction=args.instruction,
        target=target,
        target_line=line,
    )
    return await run_fix(request, settings, json_output=args.json, apply=args.apply, client=ModelClient(settings))


async def run_fix(request: Any, settings: Settings, *, json_output: bool, apply: bool, client: Any) -> int:
    """Run a fix job and report it the CLI way; shared by `fix` and `demo`."""
    from kimi_lsp.agent.job import run_job
    from kimi_lsp.agent.jobdata import JobResult
    from kimi_lsp.agent.writeback import apply_changes

    def progress(event: Any) -> None:
        print(f"kimi-lsp: {event.describe()}", file=sys.stderr, flush=True)

    def log(text: str) -> None:
        print(f"kimi-lsp: {text}", file=sys.stderr, flush=True)

    error: str | None = None
    code = EXIT_OK
    # Ours, filled in by the job as it goes: a failed or interrupted job still reports what it spent.
    result = JobResult(request.job_id, "error")
    try:
        async with client:
            await run_job(request, settings, client, on_event=progress, on_log=log, record=result)
    except asyncio.CancelledError:
        error, code = "interrupted", EXIT_INTERRUPTED
    except KimiError as exc:
        error, code = str(exc), exc.exit_code
    except Exception as exc:  # a crash still answers in the contract's shape, not as a traceback
        what = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else repr(exc)
        error, code = f"internal error: {what}", EXIT_USAGE
    applied = False
    if error is None and result.status == "fixed" and apply:
        try:
            apply_changes(request.root, result.files)
            applied = True
            log(f"applied the fix to {len(result.files)} file(s) in {request.root}")
        except KimiError as exc:
            error, code = str(exc), EXIT_NOT_FIXED
    if error is None:
        code = EXIT_OK if result.status == "fixed" else EXIT_NOT_FIXED
        if result.status == "no_change" and result.before is not None and result.before.ok:
            code = EXIT_OK
    if json_output:
        payload = result.to_json()
        payload["applied"] = applied
        if error:
            payload["error"] = error
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        if result.diff:
            sys.stdout.write(result.diff if result.diff.endswith("\n") else result.diff + "\n")
        if result.summary:
            log(f"summary: {result.summary}")
        if result.tests_note:
            log(result.tests_note)  # after the model's summary, in kimi-lsp's own words
        unconfined = "; the tests ran WITHOUT the sandbox" if result.sandboxed is False else ""
        log(f"status: {result.status}" + (f" ({error})" if error else "") + unconfined)
        if result.transcript:
            log(f"transcript: {result.transcript}")
    if error and not json_output:
        print(f"kimi-lsp: {error}", file=sys.stderr)
    return code


def _context(args: argparse.Namespace) -> int:
    from kimi_lsp.context import ContextRequest, build_context

    root = _root(args.root)
    cli = {"contextBudget": args.budget} if args.budget else {}
    settings = _load(root, cli).settings
    target, line = parse_file_arg(args.file, root)
    result = build_context(ContextRequest(root=root, target=target, target_line=line, budget=settings.context_budget))
    for warning in result.warnings:
        print(f"kimi-lsp: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(result.prompt if result.prompt.endswith("\n") else result.prompt + "\n")
    return EXIT_OK


async def _doctor() -> int:
    from kimi_lsp.agent.detect import detect_test_command
    from kimi_lsp.model.client import ModelClient
    from kimi_lsp.model.dialect import describe_dialect

    root = Path.cwd()
    loaded = load_settings(root)
    settings = loaded.settings
    problems: list[str] = []
    print(f"kimi-lsp {__version__} (python {sys.version.split()[0]})")
    print(f"workspace: {root}")
    print("settings:")
    for key, spec in SPECS.items():
        value = getattr(settings, spec.attr)
        print(f"  {key:<16} {value!r:<36} ({loaded.sources.get(key, 'default')})")
    for warning in loaded.warnings:
        print(f"  warning: {warning}")
    if settings.api_key:
        print(f"API key: present (from {settings.api_key_source})")
    else:
        print("API key: missing: set KIMI_API_KEY or MOONSHOT_API_KEY")
        problems.append("no API key")
    cards: list[dict[str, Any]] | None = None  # the server's model list, when it answered
    if settings.api_key:
        try:
            async with ModelClient(settings.with_overrides(max_retries=0, request_timeout=10.0)) as client:
                cards = await client.model_cards()
            models = [str(card["id"]) for card in cards]
            listed = settings.model in models
            print(f"endpoint: {settings.base_url} answers; {len(models)} model(s) listed")
            print(f"model: {settings.model} " + ("is listed" if listed else "is NOT listed: " + ", ".join(models)))
            if not listed and models:
                problems.append(f"model {settings.model} not offered by the endpoint")
        except KimiError as exc:
            print(f"endpoint: {settings.base_url} failed: {exc}")
            problems.append("endpoint unreachable")
    else:
        print(f"endpoint: {settings.base_url} (not checked without a key)")
    print(f"dialect: {describe_dialect(settings.base_url, cards)}")
    git = shutil.which("git")
    print(f"git: {git or 'missing'}")
    if not git:
        problems.append("git not found")
    command = settings.test_command or detect_test_command(root)
    source = "testCommand" if settings.test_command else "detected"
    print(f"test command: {command} ({source})" if command else "test command: none detected (set testCommand)")
    sandbox_line, sandbox_problem = _describe_sandbox(settings)
    print(sandbox_line)
    if sandbox_problem:
        problems.append(sandbox_problem)
    if problems:
        print("problems: " + "; ".join(problems))
        return EXIT_MODEL if "endpoint unreachable" in problems else EXIT_NOT_FIXED
    print("all good")
    return EXIT_OK


def _describe_sandbox(settings: Settings) -> tuple[str, str | None]:
    """doctor's line about how test runs are confined, and the problem it is when ``sandbox = require``."""
    from kimi_lsp.agent import bwrap
    from kimi_lsp.agent.sandbox import ENABLE_HINT, sandbox_problem

    network = "network on (testNetwork)" if settings.test_network else "no network"
    if settings.sandbox == "off":
        return "sandbox: off (setting sandbox = off): tests run unconfined, with your files and network", None
    why = sandbox_problem()
    if why is None:
        return (
            f"sandbox: on (bubblewrap {bwrap.find_bwrap()}): tests see the shadow at the workspace's own path, "
            f"the rest read-only, credentials hidden, private /tmp, own PID namespace, {network}"
        ), None
    line = f"sandbox: NOT available ({why}); tests run unconfined. To enable it: {ENABLE_HINT}"
    return line, ("sandbox required but unavailable" if settings.sandbox == "require" else None)


if __name__ == "__main__":
    raise SystemExit(main())
