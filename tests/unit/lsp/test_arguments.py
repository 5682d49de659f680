"""The commands' typed arguments, as the server's converter builds them from what a client sends."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types

from kimi_lsp.lsp.arguments import BadArgument, JobArguments, JobIdArguments, StatusArguments
from kimi_lsp.lsp.protocol import converter

RANGE = {"start": {"line": 3, "character": 4}, "end": {"line": 5, "character": 0}}


def build(value: Any, cls: type[Any]) -> Any:
    return converter().structure(value, cls)


def test_keys_are_read_as_the_wire_spells_them_into_lsp_types() -> None:
    diagnostic = {"range": RANGE, "message": "c should be 30", "severity": 1, "source": "pyright", "code": "E1"}
    built = build({"uri": "file:///p/a.py", "range": RANGE, "diagnostics": [diagnostic]}, JobArguments)
    assert built.uri == "file:///p/a.py"
    assert built.range == types.Range(types.Position(3, 4), types.Position(5, 0))
    (only,) = built.diagnostics
    assert (only.message, only.severity, only.source, only.code) == (
        "c should be 30",
        types.DiagnosticSeverity.Error,
        "pyright",
        "E1",
    )
    assert build({"jobId": "j-1"}, JobIdArguments).job_id == "j-1"
    assert build({"show": True}, StatusArguments).show is True


def test_absent_null_and_unknown_keys_are_left_out() -> None:
    assert build({}, JobArguments) == JobArguments()
    assert build({"uri": None, "instruction": None}, JobArguments) == JobArguments()
    assert build({"jobId": "j-1", "fail": "a key of a newer client"}, JobIdArguments) == JobIdArguments("j-1")
    assert build({"job_id": "j-1"}, JobIdArguments) == JobIdArguments()  # the wire says jobId


@pytest.mark.parametrize(
    ("cls", "value", "told"),
    [
        (JobArguments, "file:///p/a.py", "expected one object argument, got str"),
        (JobIdArguments, ["j-1"], "expected one object argument, got list"),
        (JobArguments, {"uri": 12}, "'uri' must be a string"),  # cattrs alone would read "12"
        (JobArguments, {"instruction": ["tidy"]}, "'instruction' must be a string"),
        (JobArguments, {"range": {"start": {"line": 1}}}, "'range' must be an LSP range"),
        (JobArguments, {"range": [1, 2]}, "'range' must be an LSP range"),
        (JobArguments, {"diagnostics": "x"}, "'diagnostics' must be a list of LSP diagnostics"),  # not its letters
        (JobArguments, {"diagnostics": {"range": RANGE, "message": "m"}}, "'diagnostics' must be a list"),
        (JobArguments, {"diagnostics": [{"message": "no range"}]}, "'diagnostics' must be a list of LSP"),
        (JobArguments, {"diagnostics": [{"range": RANGE, "message": "m", "severity": 9}]}, "'diagnostics' must be"),
        (JobIdArguments, {"jobId": 42}, "'jobId' must be a string"),
        (StatusArguments, {"show": "no"}, "'show' must be true or false"),  # cattrs alone would read True
        (StatusArguments, {"show": 1}, "'show' must be true or false"),
    ],
)
def test_a_value_of_the_wrong_shape_is_refused_naming_the_key(cls: type[Any], value: Any, told: str) -> None:
    with pytest.raises(BadArgument) as refused:
        build(value, cls)
    assert str(refused.value).startswith(told)
