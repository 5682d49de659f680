"""Test doubles that speak the real protocols: the strict stand-in for the Kimi API.

Only ``kimi-lsp demo``, the benchmarks and the tests import this package.
"""

from kimi_lsp.testing.clock import RecordedSleep
from kimi_lsp.testing.script import Fault, ScriptedCall, Turn, tool_call
from kimi_lsp.testing.stand_in import STAND_IN_KEY, RecordedRequest, StandIn, Violation

__all__ = [
    "STAND_IN_KEY",
    "Fault",
    "RecordedRequest",
    "RecordedSleep",
    "ScriptedCall",
    "StandIn",
    "Turn",
    "Violation",
    "tool_call",
]
