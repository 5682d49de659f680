"""Verification running the real test command with the user's test files put back, then the model's again."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from kimi_lsp.agent import job
from kimi_lsp.agent.shadow import Shadow
from kimi_lsp.agent.verify import verify
from kimi_lsp.settings import Settings
from tests.unit.agent.test_verify import SHOW


def test_the_user_versions_are_seen_by_the_run_and_the_models_are_back_afterwards(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "code.py").write_text("x = 1\n", encoding="utf-8")
    (root / "test_a.py").write_text("# user\n", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n", encoding="utf-8")
    with Shadow.create(root, files=["code.py", "test_a.py"], base_dir=tmp_path) as shadow:
        (shadow.root / "code.py").write_text("x = 2\n", encoding="utf-8")
        (shadow.root / "test_a.py").unlink()
        os.symlink(outside, shadow.root / "test_a.py")  # with a shell the model could leave a link here
        (shadow.root / "test_new.py").write_text("# model's new test\n", encoding="utf-8")
        seen: list[job.TestRun] = []

        async def run(_what: str) -> job.TestRun:
            seen.append(await job.run_tests(SHOW, shadow.root, Settings(sandbox="off")))  # host paths, as linked
            return seen[-1]

        check = asyncio.run(
            verify(
                shadow,
                [*shadow.diff().files, *shadow.diff().refused],
                ["test_a.py", "test_new.py"],
                SHOW,
                keep_test_edits=False,
                run=run,
            )
        )
        assert seen[0].output.strip() == "# user False"  # the user's test, the model's new one set aside
        assert seen[1].output.strip() == "not yours True"  # then exactly as the model left it
        assert not check.passed and check.after is seen[1]
        assert check.note is not None and "test_a.py, test_new.py" in check.note and "as changed fail" in check.note
        assert (shadow.root / "test_a.py").is_symlink()  # the model's work is back for its next round
        assert (shadow.root / "test_new.py").read_text(encoding="utf-8") == "# model's new test\n"
    assert outside.read_text(encoding="utf-8") == "not yours\n"  # never written through the link
