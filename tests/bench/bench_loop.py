"""Loop overhead benchmark (run on demand: ``python tests/bench/bench_loop.py [--profile]``).

A 240-call scripted run: the real ``AgentLoop`` with the real ``ModelClient`` against the strict stand-in
(one ReadFile call per turn over 30 files of 400 lines) and the real ``Toolbox``. Thin timing proxies around
the model and the toolbox split each step's wall time into model time (inside ``model.complete``), tool time
(inside ``Toolbox.run``) and what is left: the loop's own overhead. Step ``i`` runs from the start of request
``i`` to the start of request ``i + 1`` (the last one to the end of ``run``).

Goals: median overhead per step under 5 ms; history rewrites (compactions) at most 5% of requests; no
request over the 262,144-token window. ``--profile`` (or a median over the goal) adds a cProfile of the run.
The client's own request serialization (``request_body``, counted as model time above) is timed separately
on the same histories (and left out of every figure) so it can be compared with the overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_lsp.agent.loop import CONTEXT_WINDOW, AgentLoop, LoopLimits
from kimi_lsp.agent.tools import Toolbox, ToolResult
from kimi_lsp.model.client import ModelClient, request_body
from kimi_lsp.model.types import Completion, Message, ToolCall, ToolSpec
from kimi_lsp.settings import Settings
from kimi_lsp.testing import ScriptedCall, StandIn, Turn

CALLS = 240
FILES = 30
LINES = 400
GOAL_MEDIAN_MS = 5.0
GOAL_REWRITE_SHARE = 0.05


@dataclass
class Timings:
    """What the proxies saw, in ``time.perf_counter`` seconds."""

    request_starts: list[float] = field(default_factory=list)
    probe_starts: list[float] = field(default_factory=list)  # each step ends where the next probe begins
    model: list[float] = field(default_factory=list)  # one per request
    tools: list[float] = field(default_factory=list)  # summed per request (the calls that request made)
    serialization: list[float] = field(default_factory=list)  # request_body on the same history, per request


class TimedModel:
    """Forwards ``complete`` to the real client and records when it started and how long it took."""

    def __init__(self, inner: ModelClient, settings: Settings, timings: Timings) -> None:
        self._inner = inner
        self._settings = settings
        self._timings = timings

    async def complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), **kw: Any) -> Completion:
        timings = self._timings
        # Serialize once more on the side, timed apart (and left out of every step figure), to show what
        # the client's own request_body costs on this exact history.
        probe = time.perf_counter()
        timings.probe_starts.append(probe)
        request_body(self._settings, messages, tools)
        start = time.perf_counter()
        timings.serialization.append(start - probe)
        timings.request_starts.append(start)
        timings.tools.append(0.0)
        try:
            return await self._inner.complete(messages, tools, **kw)
        finally:
            timings.model.append(time.perf_counter() - start)


class TimedTools:
    """Forwards to the real toolbox and adds each call's duration to the current request's tool time."""

    def __init__(self, inner: Toolbox, timings: Timings) -> None:
        self._inner = inner
        self._timings = timings

    def specs(self) -> list[ToolSpec]:
        return self._inner.specs()

    def read_only(self, name: str) -> bool:
        return self._inner.read_only(name)

    async def run(self, call: ToolCall) -> ToolResult:
        start = time.perf_counter()
        try:
            return await self._inner.run(call)
        finally:
            self._timings.tools[-1] += time.perf_counter() - start


def make_workspace(root: Path) -> Path:
    for i in range(FILES):
        body = "".join(f"def function_{i}_{n}(value):  # line {n} of module {i}\n" for n in range(LINES))
        (root / f"mod_{i}.py").write_text(body, encoding="utf-8")
    return root


def responder(body: dict[str, Any]) -> Turn:
    done = sum(len(m.get("tool_calls", [])) for m in body["messages"] if m["role"] == "assistant")
    if done >= CALLS:
        return Turn(reasoning="enough", content="finished the survey")
    return Turn(reasoning=f"step {done}", tool_calls=[ScriptedCall("ReadFile", {"path": f"mod_{done % FILES}.py"})])


def count_rewrites(histories: list[list[dict[str, Any]]]) -> int:
    """Requests whose messages are not the previous request's messages plus new ones."""
    count = 0
    for before, after in itertools.pairwise(histories):
        if json.dumps(after[: len(before)], sort_keys=True) != json.dumps(before, sort_keys=True):
            count += 1
    return count


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def run_once(root: Path, profiler: cProfile.Profile | None) -> dict[str, Any]:
    timings = Timings()
    with StandIn(responder=responder) as stand_in:
        settings = stand_in.settings()
        async with ModelClient(settings) as client:
            model = TimedModel(client, settings, timings)
            compacted_steps: list[int] = []

            def on_record(kind: str, data: dict[str, object]) -> None:
                step = data.get("step")
                if kind == "compacted" and isinstance(step, int):
                    compacted_steps.append(step)

            loop = AgentLoop(
                model,
                TimedTools(Toolbox(root, test_command=None), timings),
                "system",
                limits=LoopLimits(max_steps=CALLS + 60, window=CONTEXT_WINDOW),
                on_record=on_record,
            )
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            result = await loop.run("survey every module")
            ended = time.perf_counter()
            if profiler is not None:
                profiler.disable()
        requests = stand_in.chat_requests
        violations = list(stand_in.violations)
    if result.stop_reason != "done" or result.steps != CALLS + 1:
        raise SystemExit(f"unexpected run: {result.stop_reason}, {result.steps} steps")
    if violations:
        raise SystemExit(f"the stand-in refused requests: {violations[:3]}")
    ends = [*timings.probe_starts[1:], ended]
    overheads = [
        (end - start) - model - tools
        for start, end, model, tools in zip(timings.request_starts, ends, timings.model, timings.tools, strict=True)
    ]
    sizes = [len(r.body) / 4 for r in requests]
    return {
        "wall": ended - started,
        "overheads": overheads,
        "compaction_overheads": [overheads[step - 1] for step in compacted_steps],
        "model": timings.model,
        "tools": timings.tools,
        "serialization": timings.serialization,
        "requests": result.requests,
        "rewrites": result.rewrites,
        "rewrites_seen": count_rewrites([r.json["messages"] for r in requests]),
        "max_request_tokens": max(sizes),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", action="store_true", help="profile the timed run with cProfile")
    parser.add_argument("--runs", type=int, default=3, help="runs to make (the median run is reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kimi-bench-loop-") as tmp:
        root = make_workspace(Path(tmp))
        runs = [asyncio.run(run_once(root, None)) for _ in range(args.runs)]
        runs.sort(key=lambda r: statistics.median(r["overheads"]))
        figures = runs[len(runs) // 2]
        profiler: cProfile.Profile | None = None
        median = statistics.median(figures["overheads"])
        if args.profile or median * 1000 > GOAL_MEDIAN_MS:
            profiler = cProfile.Profile()
            asyncio.run(run_once(root, profiler))

    overheads = figures["overheads"]
    print(f"loop benchmark: {CALLS} ReadFile calls over {FILES} files x {LINES} lines, {args.runs} run(s), median run")
    print(f"  steps: {len(overheads)}; run wall time {figures['wall']:.2f} s")
    print(
        f"  overhead per step: median {ms(median)}, p90 {ms(percentile(overheads, 0.9))}, "
        f"max {ms(max(overheads))} (goal: median < {GOAL_MEDIAN_MS:g} ms) -> {verdict(median * 1000 < GOAL_MEDIAN_MS)}"
    )
    compactions = figures["compaction_overheads"]
    if compactions:
        print(f"  overhead on the {len(compactions)} compaction steps: max {ms(max(compactions))}")
    print(f"  per run: {', '.join(ms(statistics.median(r['overheads'])) for r in runs)} (median overhead)")
    print(
        f"  model time per step (incl. stand-in server): median {ms(statistics.median(figures['model']))}; "
        f"tool time: median {ms(statistics.median(figures['tools']))}"
    )
    serial = figures["serialization"]
    print(
        f"  client request serialization (inside model time): median {ms(statistics.median(serial))}, "
        f"max {ms(max(serial))}"
    )
    share = figures["rewrites"] / figures["requests"]
    print(
        f"  requests: {figures['requests']}; history rewrites: {figures['rewrites']} "
        f"(seen on the wire: {figures['rewrites_seen']}); share {share:.1%} "
        f"(goal <= {GOAL_REWRITE_SHARE:.0%}) -> {verdict(share <= GOAL_REWRITE_SHARE)}"
    )
    biggest = figures["max_request_tokens"]
    print(
        f"  max request size: {biggest:,.0f} tokens (bytes / 4) of the {CONTEXT_WINDOW:,}-token window "
        f"({biggest / CONTEXT_WINDOW:.0%}) -> {verdict(biggest < CONTEXT_WINDOW)}"
    )
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print("\ncProfile of one run, top cumulative entries:")
        print(out.getvalue())
    ok = median * 1000 < GOAL_MEDIAN_MS and share <= GOAL_REWRITE_SHARE and biggest < CONTEXT_WINDOW
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
