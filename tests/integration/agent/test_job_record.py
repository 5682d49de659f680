"""A failed or cancelled job leaves what it reached in the caller's record, and the exception still comes out."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from kimi_lsp.agent.job import run_job
from kimi_lsp.agent.jobdata import JobRequest, JobResult
from kimi_lsp.errors import KimiError
from kimi_lsp.model.client import ModelClient
from kimi_lsp.testing import Fault, ScriptedCall, StandIn, Turn

TEST_COMMAND = f"{sys.executable} -m unittest"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shapes.py").write_text("def area(width, height):\n    return width + height\n")
    (root / "test_shapes.py").write_text(
        "import unittest\n\nfrom shapes import area\n\n\n"
        "class AreaTest(unittest.TestCase):\n    def test_area(self):\n        self.assertEqual(area(3, 4), 12)\n"
    )
    return root


def _look() -> Turn:
    return Turn(reasoning="look", tool_calls=[ScriptedCall("ReadFile", {"path": "shapes.py"})])


async def test_a_cancelled_job_keeps_its_steps_tokens_tests_and_transcript_in_the_record(
    tmp_path: Path, project: Path
) -> None:
    with StandIn([_look(), Turn(content="never heard", fault=Fault.slow_stream(delay=30))]) as stand_in:
        settings = stand_in.settings(test_command=TEST_COMMAND, sandbox="off")
        record = JobResult("job-1", "error")
        async with ModelClient(settings) as client:
            task = asyncio.ensure_future(
                run_job(
                    JobRequest(root=project, job_id="job-1"),
                    settings,
                    client,
                    transcript_dir=tmp_path / "transcripts",
                    record=record,
                )
            )
            # The second request is the one the stand-in answers too slowly: the job is mid-step.
            assert await asyncio.to_thread(stand_in.wait_for, lambda s: len(s.chat_requests) >= 2, 60)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert record.status == "cancelled"
    assert record.steps == 2 and record.usage.prompt_tokens > 0  # the step under way counts
    assert record.before is not None and record.before.failed == 1
    assert record.test_command == TEST_COMMAND
    assert record.transcript is not None and await asyncio.to_thread(os.path.isfile, record.transcript)


async def test_a_job_the_model_api_fails_raises_and_its_record_says_error(tmp_path: Path, project: Path) -> None:
    with StandIn([_look(), Turn(fault=Fault.quota())]) as stand_in:
        settings = stand_in.settings(test_command=TEST_COMMAND, sandbox="off")
        record = JobResult("job-2", "error")
        async with ModelClient(settings) as client:
            with pytest.raises(KimiError):
                await run_job(
                    JobRequest(root=project, job_id="job-2"),
                    settings,
                    client,
                    transcript_dir=tmp_path / "transcripts",
                    record=record,
                )
    assert record.status == "error"
    assert record.steps == 2 and record.usage.prompt_tokens > 0
    assert record.before is not None and record.before.failed == 1
