"""`kimi-lsp demo`: the whole pipeline on a small broken project, against the local stand-in model.

No key and no network: the model's turns are scripted, everything else (shadow workspace, tools, sandboxed
tests, verification, diff) is the real thing. The output says so plainly.
"""

from __future__ import annotations

import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from kimi_lsp.testing import ScriptedCall, StandIn, Turn

BANNER = "=== kimi-lsp demo: SCRIPTED model turns (local stand-in, no API key, no network) ==="

_OLD = "    discount = subtotal * discount_percent\n"
_NEW = "    discount = subtotal * discount_percent / 100\n"


def demo_turns() -> list[Turn]:
    """The model's part of the demo: read, fix, run the tests, summarize."""
    return [
        Turn(
            reasoning="The discount test fails. Let me read the module and its test side by side.",
            tool_calls=[
                ScriptedCall("ReadFile", {"path": "invoice.py"}),
                ScriptedCall("ReadFile", {"path": "test_invoice.py"}),
            ],
        ),
        Turn(
            reasoning="discount_percent is a percentage (10 means 10%), but it is used as a fraction.",
            tool_calls=[ScriptedCall("StrReplaceFile", {"path": "invoice.py", "edit": {"old": _OLD, "new": _NEW}})],
        ),
        Turn(reasoning="Now check the whole suite.", tool_calls=[ScriptedCall("RunTests", {})]),
        Turn(
            reasoning="All tests pass.",
            content="invoice_total treated discount_percent as a fraction; it is a percentage, "
            "so the discount is now divided by 100.",
        ),
    ]


def copy_sample(destination: Path) -> Path:
    source = resources.files("kimi_lsp.demo").joinpath("sample")
    target = destination / "invoice-demo"
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.is_file() and entry.name.endswith(".py"):
            (target / entry.name).write_bytes(entry.read_bytes())
    return target


async def run_demo(*, json_output: bool = False) -> int:
    from kimi_lsp.agent.jobdata import JobRequest
    from kimi_lsp.cli import run_fix
    from kimi_lsp.model.client import ModelClient

    print(BANNER, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="kimi-demo-") as tmp, StandIn(demo_turns()) as stand_in:
        root = copy_sample(Path(tmp))
        before = (root / "invoice.py").read_text(encoding="utf-8")
        command = f"{sys.executable} -m unittest -v"
        settings = stand_in.settings(test_command=command, max_steps=10)
        print(f"project: {root} (a copy of the bundled sample)", file=sys.stderr)
        print(f"stand-in model: {stand_in.url}", file=sys.stderr, flush=True)
        request: Any = JobRequest(root=root, kind="fix_tests", target="invoice.py")
        code = await run_fix(request, settings, json_output=json_output, apply=False, client=ModelClient(settings))
        untouched = (root / "invoice.py").read_text(encoding="utf-8") == before
        print(
            "the project's own files were left untouched (the fix was verified in a shadow copy)"
            if untouched
            else "WARNING: the project's files changed",
            file=sys.stderr,
        )
        print("=== end of the scripted demo ===", file=sys.stderr)
        return code
