"""`kimi-lsp fix` and `doctor` as real processes against each serving stack the stand-in plays, configured
as the README's recipes say: a fix completes with the model's thinking intact on every turn."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_lsp.demo import copy_sample, demo_turns
from kimi_lsp.testing import STAND_IN_KEY, StandIn
from kimi_lsp.testing.dialects import DIALECTS

TEST_COMMAND = f"{sys.executable} -m unittest"
# What each recipe sets besides the key and the base URL: OpenRouter's id for the model; vLLM and SGLang
# serve it as kimi-k2-thinking (--served-model-name), Moonshot's own name, so the default model works.
MODEL = {"openrouter": "moonshotai/kimi-k2-thinking"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_sample(tmp_path)  # the demo's small broken project; demo_turns() fixes it


def run(args: list[str], tmp_path: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
    clean["KIMI_LSP_STATE_DIR"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "kimi_lsp", *args],
        env=clean | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def stand_in_env(api: StandIn, dialect: str) -> dict[str, str]:
    env = {"KIMI_API_KEY": STAND_IN_KEY, "KIMI_BASE_URL": api.url}
    if dialect in MODEL:
        env["KIMI_MODEL"] = MODEL[dialect]
    return env


def served(dialect: str) -> tuple[str, ...]:
    return (MODEL.get(dialect, "kimi-k2-thinking"),)


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_fix_completes_with_the_thinking_intact_on_every_turn(dialect: str, tmp_path: Path, project: Path) -> None:
    turns = demo_turns()
    thoughts = [turn.reasoning for turn in turns]
    with StandIn(turns, dialect=dialect, models=served(dialect)) as api:
        done = run(["fix", "--test", TEST_COMMAND, "--json"], tmp_path, project, **stand_in_env(api, dialect))
        requests = api.chat_requests
        seen = [api.thinking_seen(request) for request in requests]
        assert api.violations == []
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "fixed"
    assert "discount_percent / 100" in result["diff"]
    assert len(requests) == len(turns)
    assert seen == [thoughts[:n] for n in range(len(turns))]  # turn N's thinking, unchanged, in every later request
    assert all(request.json["tools"] for request in requests)


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_doctor_names_the_stack_it_reaches(dialect: str, tmp_path: Path, project: Path) -> None:
    with StandIn(dialect=dialect, models=served(dialect)) as api:
        done = run(["doctor"], tmp_path, project, **stand_in_env(api, dialect))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"dialect: {dialect} (from the server's model list)" in done.stdout
    assert f"model: {served(dialect)[0]} is listed" in done.stdout


def test_doctor_says_unknown_for_an_unreachable_self_hosted_endpoint(tmp_path: Path, project: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run(["doctor"], tmp_path, project, KIMI_API_KEY=STAND_IN_KEY, KIMI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    assert "failed" in done.stdout and done.returncode != 0
    assert "dialect: unknown" in done.stdout


def test_doctor_names_a_public_endpoint_from_its_url_without_asking_it(tmp_path: Path, project: Path) -> None:
    # No key: doctor does not contact the endpoint, so no traffic leaves the machine.
    for url, name in (("https://api.moonshot.ai/v1", "moonshot"), ("https://openrouter.ai/api/v1", "openrouter")):
        done = run(["doctor"], tmp_path, project, KIMI_BASE_URL=url)
        assert "not checked without a key" in done.stdout
        assert f"dialect: {name} (from the endpoint URL)" in done.stdout
