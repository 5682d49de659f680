"""Typed settings merged in layers, lowest first.

defaults < ``[tool.kimi-lsp]`` in the workspace's ``pyproject.toml`` or ``.kimi-lsp.toml`` < environment
< LSP ``initializationOptions`` / ``workspace/configuration`` (section ``kimi``) < CLI flags.

A file inside the workspace may not choose where code and keys are sent: ``baseUrl``, ``model`` and any key
found there are dropped with a warning naming the file and the key, so a cloned repository cannot redirect
the user's code or API key.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_lsp.errors import ConfigError

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_MODEL = "kimi-k2-thinking"
KEY_ENV_VARS = ("KIMI_API_KEY", "MOONSHOT_API_KEY")

# Keys a file inside the workspace may never set.
WORKSPACE_FORBIDDEN = frozenset({"baseUrl", "model", "apiKey", "api_key", "key"})
# Nor may it make kimi-lsp run things the user did not ask for: a shell for the model, tests on every save.
WORKSPACE_NO_AUTORUN = frozenset({"allowShell", "runTestsOnSave"})
# Limits a workspace file may lower but never raise above the default: a clone must not run up the user's bill
# or hold their machine. The user's own settings (env, editor, flags) may raise them.
WORKSPACE_CAPPED = frozenset(
    {
        "maxSteps",
        "contextBudget",
        "maxTokens",
        "maxJobTokens",
        "maxRetries",
        "maxWallTime",
        "testTimeout",
        "requestTimeout",
        "connectTimeout",
        "retryBaseDelay",
    }
)
# Nor loosen what confines the tests it brings: the sandbox and the tests' network are the user's call.
WORKSPACE_NO_LOOSENING = frozenset({"sandbox", "testNetwork"})


@dataclass(frozen=True)
class Settings:
    """Everything a job, the client and the server read. Field names are the camelCase keys in snake_case."""

    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    api_key_source: str | None = None  # the environment variable that held the key, never the key
    test_command: str | None = None
    test_command_source: str = "default"  # where the test command came from, shown at the start of every job
    max_steps: int = 100
    context_budget: int = 64_000
    apply_mode: str = "apply"
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 16_384
    run_tests_on_save: bool = False
    request_timeout: float = 300.0  # seconds without a byte from the API before giving up on an attempt
    connect_timeout: float = 10.0
    max_retries: int = 5
    retry_base_delay: float = 1.0
    test_timeout: float = 300.0
    max_wall_time: float = 3600.0
    max_job_tokens: int = 100_000_000  # prompt + completion over the whole job; 300 steps near a full window fit
    allow_shell: bool = False
    sandbox: str = "auto"  # auto | require | off: how test runs are confined (agent/sandbox.py)
    test_network: bool = False

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class _Spec:
    attr: str
    kind: type
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    nullable: bool = False


SPECS: dict[str, _Spec] = {
    "baseUrl": _Spec("base_url", str),
    "model": _Spec("model", str),
    "testCommand": _Spec("test_command", str, nullable=True),
    "maxSteps": _Spec("max_steps", int, 1, 300),
    "contextBudget": _Spec("context_budget", int, 1_000, 230_000),
    "applyMode": _Spec("apply_mode", str, choices=("apply", "preview")),
    "temperature": _Spec("temperature", float, 0.0, 2.0),
    "topP": _Spec("top_p", float, 0.0, 1.0),
    "maxTokens": _Spec("max_tokens", int, 1, 262_144),
    "runTestsOnSave": _Spec("run_tests_on_save", bool),
    "requestTimeout": _Spec("request_timeout", float, 1.0, 3600.0),
    "connectTimeout": _Spec("connect_timeout", float, 0.5, 300.0),
    "maxRetries": _Spec("max_retries", int, 0, 20),
    "retryBaseDelay": _Spec("retry_base_delay", float, 0.0, 60.0),
    "testTimeout": _Spec("test_timeout", float, 1.0, 86_400.0),
    "maxWallTime": _Spec("max_wall_time", float, 1.0, 86_400.0),
    "maxJobTokens": _Spec("max_job_tokens", int, 1_000, 1_000_000_000),
    "allowShell": _Spec("allow_shell", bool),
    "sandbox": _Spec("sandbox", str, choices=("auto", "require", "off")),
    "testNetwork": _Spec("test_network", bool),
}
ATTR_TO_KEY = {spec.attr: key for key, spec in SPECS.items()}
_DEFAULTS = Settings()
assert all(isinstance(getattr(_DEFAULTS, SPECS[key].attr), int | float) for key in WORKSPACE_CAPPED)


@dataclass
class LoadedSettings:
    """Settings plus where each value came from and the warnings met while merging."""

    settings: Settings
    sources: dict[str, str]
    warnings: list[str]


def _coerce(key: str, value: Any, source: str) -> Any:
    spec = SPECS[key]

    def bad(why: str) -> ConfigError:
        return ConfigError(f"invalid setting {key}={value!r} from {source}: {why}")

    if value is None:
        if spec.nullable:
            return None
        raise bad("a value is required")
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise bad("expected true or false")
    if spec.kind is int:
        if isinstance(value, bool):
            raise bad("expected an integer")
        try:
            number: Any = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise bad("expected an integer")
        value = number
    elif spec.kind is float:
        if isinstance(value, bool):
            raise bad("expected a number")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise bad("expected a number") from None
        if not math.isfinite(value):
            raise bad("expected a finite number")  # nan compares false to every limit: it would lift them all
    elif spec.kind is str:
        if not isinstance(value, str):
            raise bad("expected a string")
        value = value.strip()
        if not value and not spec.nullable:
            raise bad("must not be empty")
        if not value:
            return None
    if spec.minimum is not None and value < spec.minimum:
        raise bad(f"must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise bad(f"must be at most {spec.maximum:g}")
    if spec.choices is not None and value not in spec.choices:
        raise bad(f"must be one of {', '.join(spec.choices)}")
    if key == "baseUrl" and not (value.startswith("http://") or value.startswith("https://")):
        raise bad("must start with http:// or https://")
    return value


def read_workspace_file(root: Path) -> tuple[dict[str, Any], str | None]:
    """The ``[tool.kimi-lsp]`` table of ``.kimi-lsp.toml`` or ``pyproject.toml`` (first found) and its path."""
    for name, table_path in ((".kimi-lsp.toml", ()), ("pyproject.toml", ("tool", "kimi-lsp"))):
        path = root / name
        if not path.is_file():
            continue
        try:
            data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings from {path}: {exc}") from exc
        for part in table_path:
            data = data.get(part, {}) if isinstance(data, dict) else {}
        if name == ".kimi-lsp.toml" and isinstance(data.get("kimi"), dict):
            data = data["kimi"]
        if data:
            return dict(data), str(path)
    return {}, None


class SettingsBuilder:
    """Merges the layers; each ``add_*`` call overrides what came before it."""

    def __init__(self, *, lenient: bool = False) -> None:
        # Lenient (the language server): a bad value is dropped with a warning and the rest still applies.
        # Strict (the CLI): a bad value is an error, exit 2.
        self.lenient = lenient
        self._values: dict[str, Any] = {}
        self.sources: dict[str, str] = {key: "default" for key in SPECS}
        self.warnings: list[str] = []
        self._api_key: str | None = None
        self._api_key_source: str | None = None

    def _set(self, key: str, value: Any, source: str) -> None:
        try:
            self._values[key] = _coerce(key, value, source)
        except ConfigError as exc:
            if not self.lenient:
                raise
            self.warnings.append(f"{exc}; using {self.sources[key]} value instead")
            return
        self.sources[key] = source

    def add_mapping(self, values: Mapping[str, Any], source: str, *, untrusted: bool = False) -> None:
        for key, value in values.items():
            if untrusted and (key in WORKSPACE_FORBIDDEN or "key" in key.lower() or "token" == key.lower()):
                self.warnings.append(
                    f"{source}: ignoring '{key}': a file inside the workspace may not choose the endpoint, "
                    "the model or the API key (set it in your environment or editor settings)"
                )
                continue
            if untrusted and key in WORKSPACE_NO_AUTORUN:
                self.warnings.append(
                    f"{source}: ignoring '{key}': a file inside the workspace may not give the model a shell or "
                    "run commands on its own (set it in your editor settings)"
                )
                continue
            if untrusted and key in WORKSPACE_NO_LOOSENING:
                self.warnings.append(
                    f"{source}: ignoring '{key}': a file inside the workspace may not change how its tests are "
                    "sandboxed or give them the network (set it in your editor settings)"
                )
                continue
            if key not in SPECS:
                self.warnings.append(f"{source}: unknown setting '{key}' ignored")
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # editors send null or "" for "not set": it must not hide a lower layer's value
            if untrusted and key in WORKSPACE_CAPPED:
                value = self._capped(key, value, source)
            self._set(key, value, source)

    def _capped(self, key: str, value: Any, source: str) -> Any:
        """``value`` from a workspace file, or the default when it would raise the limit above it."""
        default = getattr(_DEFAULTS, SPECS[key].attr)
        try:
            raised = not float(value) <= default  # true for nan too
        except (TypeError, ValueError):
            return value  # not a number: ``_set`` reports it
        if not raised:
            return value
        self.warnings.append(
            f"{source}: '{key}' = {value} ignored: a file inside the workspace may lower this limit but not raise "
            f"it above {default:g} (raise it in your editor settings or on the command line)"
        )
        return default

    def add_workspace(self, root: Path | None) -> None:
        if root is None:
            return
        try:
            values, path = read_workspace_file(root)
        except ConfigError as exc:
            if not self.lenient:
                raise
            self.warnings.append(str(exc))
            return
        if path:
            self.add_mapping(values, path, untrusted=True)

    def add_env(self, env: Mapping[str, str]) -> None:
        for name in KEY_ENV_VARS:
            if env.get(name, "").strip():
                self._api_key = env[name].strip()
                self._api_key_source = name
                break
        if env.get("KIMI_BASE_URL", "").strip():
            self._set("baseUrl", env["KIMI_BASE_URL"], "env KIMI_BASE_URL")
        if env.get("KIMI_MODEL", "").strip():
            self._set("model", env["KIMI_MODEL"], "env KIMI_MODEL")
        # The CLI has no flag for these: a user (or CI) sets them in the environment.
        if env.get("KIMI_SANDBOX", "").strip():
            self._set("sandbox", env["KIMI_SANDBOX"].strip(), "env KIMI_SANDBOX")
        if env.get("KIMI_TEST_NETWORK", "").strip():
            self._set("testNetwork", env["KIMI_TEST_NETWORK"], "env KIMI_TEST_NETWORK")

    def build(self) -> LoadedSettings:
        kwargs = {SPECS[key].attr: value for key, value in self._values.items()}
        settings = Settings(
            api_key=self._api_key,
            api_key_source=self._api_key_source,
            test_command_source=self.sources["testCommand"],
            **kwargs,
        )
        sources = dict(self.sources)
        sources["apiKey"] = f"env {self._api_key_source}" if self._api_key_source else "not set"
        return LoadedSettings(settings, sources, list(self.warnings))


def load_settings(
    root: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    editor: Mapping[str, Any] | None = None,
    editor_source: str = "initializationOptions",
    cli: Mapping[str, Any] | None = None,
    lenient: bool = False,
) -> LoadedSettings:
    """Merge every layer. ``editor`` is the LSP settings object, ``cli`` the flags given (camelCase keys).

    ``lenient`` drops invalid values with a warning instead of raising (what a long-running server wants).
    """
    builder = SettingsBuilder(lenient=lenient)
    builder.add_workspace(root)
    if env is None:
        from kimi_lsp.keyguard import environment  # the key may live outside os.environ (see keyguard)

        env = environment()
    builder.add_env(env)
    if editor:
        if not isinstance(editor, Mapping):
            raise ConfigError(f"{editor_source}: settings must be an object, got {type(editor).__name__}")
        builder.add_mapping(editor, editor_source)
    if cli:
        builder.add_mapping({k: v for k, v in cli.items() if v is not None}, "command line")
    return builder.build()
