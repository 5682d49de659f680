"""One exception family for the project; every message is meant for a person to act on.

The CLI turns these into one line on stderr and an exit code; the language server into
``window/showMessage``. Exit codes follow the CLI contract in DESIGN.md.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_FIXED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130


class KimiError(Exception):
    """Base of every error kimi-lsp reports to a user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(KimiError):
    """A setting is missing or invalid (exit 2)."""

    exit_code = EXIT_USAGE


class ModelError(KimiError):
    """The model API failed in a way retrying will not fix (exit 3)."""

    exit_code = EXIT_MODEL

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class ModelBadRequest(ModelError):
    """HTTP 400: the API rejected the request (its message is included)."""


class ModelAuthError(ModelError):
    """HTTP 401/403: the key is missing, wrong or lacks permission."""


class ModelNotFound(ModelError):
    """HTTP 404 or an unknown model name."""


class ModelQuotaExceeded(ModelError):
    """HTTP 429 ``exceeded_current_quota_error``: the account balance or quota is exhausted."""


class ModelUnavailable(ModelError):
    """Retries exhausted on rate limits, 5xx, connection errors or cut streams."""


class ToolError(KimiError):
    """A tool call failed; the message goes back to the model as the tool's result."""
