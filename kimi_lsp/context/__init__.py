"""The context engine: gathers workspace files, diagnostics, test failures and git changes into a
prompt that fits a token budget.

Takes plain data (no LSP types). ``build_context`` is the entry point; ``WorkspaceIndex`` stays warm
in the server between requests; ``parse_test_output`` and ``is_secret_path`` are shared with the agent.
"""

from kimi_lsp.context.assemble import build_context
from kimi_lsp.context.budget import DEFAULT_BUDGET, MAX_BUDGET, TokenEstimator
from kimi_lsp.context.failures import Failure, TestReport, parse_test_output
from kimi_lsp.context.locations import parse_locations
from kimi_lsp.context.request import ContextFile, ContextRequest, ContextResult, Diagnostic
from kimi_lsp.workspace.index import WorkspaceIndex
from kimi_lsp.workspace.policy import is_secret_path

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_BUDGET",
    "ContextFile",
    "ContextRequest",
    "ContextResult",
    "Diagnostic",
    "Failure",
    "TestReport",
    "TokenEstimator",
    "WorkspaceIndex",
    "build_context",
    "is_secret_path",
    "parse_locations",
    "parse_test_output",
]
