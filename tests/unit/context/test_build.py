"""build_context end to end on real fixture repositories: what goes in, in what order, within budget."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_lsp.context import (
    ContextRequest,
    Diagnostic,
    TokenEstimator,
    WorkspaceIndex,
    build_context,
)
from kimi_lsp.errors import ConfigError

SECRET_ENV = "API_TOKEN=sk-live-SECRET-ENV-VALUE-4242\n"
SECRET_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-PRIVATE-KEY-BODY-9999\n-----END OPENSSH PRIVATE KEY-----\n"
BINARY_MARKER = b"BINARY-MARKER-7777"

PROJECT: dict[str, str | bytes] = {
    ".gitignore": "generated/\n",
    "pkg/__init__.py": "",
    "pkg/core.py": (
        "from pkg import util\n"
        "from .models import Model\n"
        "\n"
        "\n"
        "def compute(value: int) -> int:\n"
        "    return util.double(Model(value).value)\n"
    ),
    "pkg/util.py": "def double(x: int) -> int:\n    return x * 2\n",
    "pkg/models.py": ("class Model:\n    def __init__(self, value: int) -> None:\n        self.value = value\n"),
    "pkg/views.py": "from pkg.core import compute\n\n\ndef show() -> str:\n    return str(compute(2))\n",
    "pkg/unrelated.py": "class Lonely:\n    def alone(self) -> None:\n        pass\n",
    "tests/test_core.py": ("from pkg.core import compute\n\n\ndef test_compute():\n    assert compute(1) == 3\n"),
    "generated/out.py": "GENERATED-IGNORED = 1\n",
    ".env": SECRET_ENV,
    "deploy/id_rsa": SECRET_KEY,
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00" + BINARY_MARKER,
}

PYTEST_OUTPUT = """\
=================================== FAILURES ===================================
_________________________________ test_compute _________________________________

    def test_compute():
>       assert compute(1) == 3

tests/test_core.py:5:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def __init__(self, value: int) -> None:
>       self.value = value
E       AssertionError: boom

pkg/models.py:3: AssertionError
=========================== short test summary info ============================
FAILED tests/test_core.py::test_compute - AssertionError: boom
============================== 1 failed in 0.01s ===============================
"""


@pytest.fixture
def project(make_workspace: Callable[..., Path]) -> Path:
    return make_workspace(PROJECT)


def _reasons(result_files: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {item.path: item.reason for item in result_files}


def test_target_comes_first_with_import_neighbours_and_tests(project: Path) -> None:
    result = build_context(ContextRequest(root=project, target="pkg/core.py", budget=20_000))

    assert result.files[0].path == "pkg/core.py" and result.files[0].reason == "target"
    reasons = _reasons(result.files)
    assert reasons["pkg/util.py"] == "imported by target"
    assert reasons["pkg/models.py"] == "imported by target"
    assert reasons["pkg/views.py"] == "imports target"
    assert reasons["tests/test_core.py"] == "test for target"
    # The whole source fits, so the file no signal reached comes too, after every ranked source file.
    order = [item.path for item in result.files]
    assert reasons["pkg/unrelated.py"] == "source file"
    ranked = max(order.index(path) for path in ("pkg/util.py", "pkg/models.py", "pkg/views.py"))
    assert order.index("pkg/unrelated.py") > ranked
    # The rest of the workspace appears as a repository map with outlines.
    assert "Repository map" in result.prompt
    assert "class Lonely" in result.prompt


def test_traceback_and_diagnostic_files_are_ranked_with_their_reason(project: Path) -> None:
    result = build_context(
        ContextRequest(
            root=project,
            test_output=PYTEST_OUTPUT,
            diagnostics=(Diagnostic("pkg/unrelated.py", 2, "unused method", "pyright", "warning"),),
            task="Fix the failing test.",
        )
    )

    reasons = _reasons(result.files)
    # What the test calls, named by the test, its file and its name, leads; the line that raised follows.
    assert [item.path for item in result.files[:2]] == ["pkg/core.py", "pkg/models.py"]
    assert {"defines what the failing test uses", "named like the failing test's file"} <= set(
        reasons["pkg/core.py"].split(", ")
    )
    assert "traceback: raised here" in reasons["pkg/models.py"].split(", ")
    assert "failing test" in reasons["tests/test_core.py"].split(", ")
    assert "diagnostic" in reasons["pkg/unrelated.py"].split(", ")
    assert "FAILED tests/test_core.py::test_compute - AssertionError: boom" in result.prompt  # the output itself
    assert "pkg/unrelated.py:2 [warning] [pyright] unused method" in result.prompt
    assert result.prompt.rstrip().endswith("Fix the failing test.")  # the task comes last


def test_secrets_binaries_and_ignored_files_never_reach_the_prompt(project: Path, git: Callable[..., str]) -> None:
    # The fixture commits .env; a tracked secret that changed stays out of the diff too.
    assert ".env" in git(project, "ls-files").split()
    (project / ".env").write_text(SECRET_ENV + "EXTRA=SECRET-IN-DIFF-1234\n")
    (project / "pkg" / "unrelated.py").write_text("class Lonely:\n    pass  # edited\n")

    for budget in (2_000, 64_000):
        for target in (None, "pkg/core.py"):
            result = build_context(ContextRequest(root=project, target=target, budget=budget))
            for forbidden in (
                "SECRET-ENV-VALUE-4242",
                "SECRET-PRIVATE-KEY-BODY-9999",
                "SECRET-IN-DIFF-1234",
                BINARY_MARKER.decode(),
                "GENERATED-IGNORED",
            ):
                assert forbidden not in result.prompt
            assert not {".env", "deploy/id_rsa", "logo.png"} & {item.path for item in result.files}


def test_working_tree_changes_are_ranked_and_their_diff_included(project: Path) -> None:
    (project / "pkg" / "unrelated.py").write_text("class Lonely:\n    CHANGED_MARKER = 1\n")
    (project / "pkg" / "fresh.py").write_text("NEW_UNTRACKED = 1\n")

    result = build_context(ContextRequest(root=project, target="pkg/core.py"))

    reasons = _reasons(result.files)
    assert reasons["pkg/unrelated.py"] == "changed in working tree"
    assert reasons["pkg/fresh.py"] == "changed in working tree"
    assert "+    CHANGED_MARKER = 1" in result.prompt
    assert any(section["name"] == "working tree diff" for section in result.sections)


@pytest.mark.parametrize("budget", [200, 450, 1_000, 3_000, 12_000, 64_000])
def test_prompt_never_exceeds_the_budget(make_workspace: Callable[..., Path], budget: int) -> None:
    big = "".join(
        f"def function_{i}(argument_{i}: int) -> int:\n    return argument_{i} + {i}\n\n" for i in range(1500)
    )
    files: dict[str, str | bytes] = {**PROJECT, "pkg/big.py": big}
    files.update(
        {f"pkg/sub/mod_{i}.py": f"class Thing{i}:\n    def run(self) -> int:\n        return {i}\n" for i in range(80)}
    )
    root = make_workspace(files)
    estimator = TokenEstimator()

    result = build_context(
        ContextRequest(
            root=root,
            target="pkg/big.py",
            target_line=1200,
            budget=budget,
            test_output=PYTEST_OUTPUT,
            task="Refactor " * 400,
        ),
        estimator=estimator,
    )

    assert result.tokens <= budget
    assert estimator.estimate(result.prompt) == result.tokens
    assert sum(section["tokens"] for section in result.sections) >= result.tokens
    if budget >= 3_000:
        assert result.files[0].path == "pkg/big.py"
        assert result.files[0].whole == (budget >= 64_000)
        assert "return argument_399 + 399" in result.prompt  # line 1200's neighbourhood
    if budget >= 64_000:
        assert "more files not listed" not in result.prompt  # room enough: every file is at least listed


def test_budget_holds_exactly_across_many_limits_with_nested_folders(
    make_workspace: Callable[..., Path],
) -> None:
    files: dict[str, str | bytes] = {}
    for top in ("a", "a/b", "a/b/c", "z"):
        for i in range(15):
            files[f"{top}/m{i}.py"] = f"class C{i}:\n    def method_{i}(self, value: int) -> int:\n        return {i}\n"
    root = make_workspace(files, git=False)
    index = WorkspaceIndex(root)
    estimator = TokenEstimator()

    for budget in range(200, 2_600, 37):
        result = build_context(ContextRequest(root=root, target="a/m3.py", budget=budget), index, estimator)
        assert result.tokens <= budget
        # Each folder heading appears once in the map however the paths interleave.
        map_text = result.prompt.split("## Repository map", 1)[-1].split("## Files", 1)[0]
        headings = [line for line in map_text.splitlines() if line.endswith("/")]
        assert len(headings) == len(set(headings))


def test_large_target_is_shown_as_window_around_the_line_with_outline(
    make_workspace: Callable[..., Path],
) -> None:
    big = "".join(f"def function_{i}():\n    return {i}\n\n" for i in range(3000))
    root = make_workspace({"big.py": big})

    result = build_context(ContextRequest(root=root, target="big.py", target_line=4500, budget=4_000))

    assert "excerpt, lines" in result.prompt
    assert "4499|     return 1499" in result.prompt
    assert "Outline:\n    1 def function_0()\n" in result.prompt
    assert result.files[0].whole is False


def test_rendering_is_deterministic_cold_and_warm(project: Path) -> None:
    request = ContextRequest(root=project, target="pkg/core.py", target_line=5, test_output=PYTEST_OUTPUT, task="t")
    first = build_context(request)
    second = build_context(request)
    index = WorkspaceIndex(project)
    warm_a = build_context(request, index=index)
    warm_b = build_context(request, index=index)

    assert first.prompt.encode() == second.prompt.encode() == warm_a.prompt.encode() == warm_b.prompt.encode()
    assert first.to_json() == warm_b.to_json()


def test_overlays_override_disk_in_the_prompt(project: Path) -> None:
    result = build_context(
        ContextRequest(root=project, target="pkg/util.py", overlays={"pkg/util.py": "UNSAVED_BUFFER_TEXT = 1\n"})
    )

    assert "UNSAVED_BUFFER_TEXT = 1" in result.prompt
    assert "return x * 2" not in result.prompt


def test_warm_index_sees_updates(project: Path) -> None:
    index = WorkspaceIndex(project)
    build_context(ContextRequest(root=project, target="pkg/util.py"), index=index)
    (project / "pkg" / "util.py").write_text("def double(x: int) -> int:\n    return x + x  # updated\n")
    index.update("pkg/util.py")

    result = build_context(ContextRequest(root=project, target="pkg/util.py"), index=index)

    assert "return x + x  # updated" in result.prompt


def test_minified_one_line_file_is_cut(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"app.min.js": "var a=1;" * 40_000})

    result = build_context(ContextRequest(root=root, target="app.min.js", budget=8_000))

    assert result.tokens <= 8_000
    assert "line cut" in result.prompt


def test_non_utf8_target_is_flagged(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"legacy.py": "name = 'caf\xe9'\n".encode("latin-1")})

    result = build_context(ContextRequest(root=root, target="legacy.py"))

    assert "not valid UTF-8" in result.prompt
    assert any("legacy.py" in warning for warning in result.warnings)


def test_works_outside_git_and_before_the_first_commit(
    make_workspace: Callable[..., Path], tmp_path: Path, git: Callable[..., str]
) -> None:
    plain = make_workspace({"a.py": "import b\n", "b.py": "B = 1\n"}, git=False)
    result = build_context(ContextRequest(root=plain, target="a.py"))
    assert _reasons(result.files) == {"a.py": "target", "b.py": "imported by target"}

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "a.py").write_text("A = 1\n")
    git(fresh, "init", "-q")
    result = build_context(ContextRequest(root=fresh, target="a.py"))
    assert [item.path for item in result.files] == ["a.py"]
    assert not any(section["name"] == "working tree diff" for section in result.sections)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("pkg/missing.py", "no such file"),
        ("../outside.py", "outside the workspace"),
        (".env", "secret"),
        ("logo.png", "binary"),
        ("generated/out.py", "not part of the workspace context"),
    ],
)
def test_bad_target_is_a_clear_config_error(project: Path, target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_context(ContextRequest(root=project, target=target))


def test_bad_budget_and_root_are_config_errors(project: Path) -> None:
    with pytest.raises(ConfigError, match="budget"):
        build_context(ContextRequest(root=project, budget=10))
    with pytest.raises(ConfigError, match="not a folder"):
        build_context(ContextRequest(root=project / "pkg" / "core.py"))


def test_to_json_has_the_cli_contract_shape(project: Path) -> None:
    result = build_context(ContextRequest(root=project, target="pkg/core.py", budget=10_000))
    data = json.loads(json.dumps(result.to_json()))

    assert {"tokens", "budget", "files", "sections"} <= set(data)
    assert data["budget"] == 10_000 and data["tokens"] == result.tokens
    assert data["files"][0] == {
        "path": "pkg/core.py",
        "tokens": result.files[0].tokens,
        "reason": "target",
        "whole": True,
    }
    assert all({"name", "tokens"} <= set(section) for section in data["sections"])


def test_estimator_learns_from_reported_usage_and_budget_still_holds(project: Path) -> None:
    estimator = TokenEstimator()
    estimator.observe(estimated=1000, actual=2000)
    assert estimator.factor > 1.5
    assert estimator.estimate("x" * 400) > 150

    result = build_context(ContextRequest(root=project, target="pkg/core.py", budget=1_500), estimator=estimator)
    assert result.tokens <= 1_500
    assert estimator.estimate(result.prompt) == result.tokens
