"""Settings merge in layers, and a workspace file cannot redirect code or keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_lsp.errors import ConfigError
from kimi_lsp.settings import DEFAULT_BASE_URL, DEFAULT_MODEL, load_settings


def write_pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.kimi-lsp]\n{body}\n", encoding="utf-8")


def test_defaults_follow_the_model_card(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path, env={})
    s = loaded.settings
    assert (s.base_url, s.model, s.temperature, s.top_p, s.max_tokens) == (
        DEFAULT_BASE_URL,
        DEFAULT_MODEL,
        1.0,
        0.95,
        16384,
    )
    assert s.max_steps == 100 and s.context_budget == 64_000 and s.apply_mode == "apply"
    assert s.api_key is None and loaded.sources["apiKey"] == "not set"
    assert loaded.sources["maxSteps"] == "default"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "maxSteps = 10\ncontextBudget = 30000\ntemperature = 0.5\ntopP = 0.9")
    env = {"KIMI_MODEL": "kimi-env", "KIMI_BASE_URL": "http://127.0.0.1:9/v1"}
    editor = {"temperature": 0.7, "contextBudget": 40000, "model": "kimi-editor"}
    cli = {"contextBudget": 50000, "maxSteps": None}
    loaded = load_settings(tmp_path, env=env, editor=editor, cli=cli)
    s = loaded.settings
    assert s.top_p == 0.9 and loaded.sources["topP"].endswith("pyproject.toml")
    assert s.max_steps == 10  # a CLI flag left unset (None) does not override
    assert s.base_url == "http://127.0.0.1:9/v1" and loaded.sources["baseUrl"] == "env KIMI_BASE_URL"
    assert s.temperature == 0.7 and loaded.sources["temperature"] == "initializationOptions"
    assert s.model == "kimi-editor"
    assert s.context_budget == 50000 and loaded.sources["contextBudget"] == "command line"


def test_kimi_api_key_wins_over_moonshot_and_is_never_shown(tmp_path: Path) -> None:
    env = {"KIMI_API_KEY": "sk-kimi-secret", "MOONSHOT_API_KEY": "sk-moon-secret"}
    loaded = load_settings(tmp_path, env=env)
    assert loaded.settings.api_key == "sk-kimi-secret"
    assert loaded.settings.api_key_source == "KIMI_API_KEY"
    assert "sk-kimi-secret" not in repr(loaded.settings)
    assert "secret" not in str(loaded.sources)
    only_moonshot = load_settings(tmp_path, env={"MOONSHOT_API_KEY": "sk-moon-secret"})
    assert only_moonshot.settings.api_key_source == "MOONSHOT_API_KEY"


@pytest.mark.parametrize("filename", ["pyproject.toml", ".kimi-lsp.toml"])
def test_workspace_file_cannot_choose_endpoint_model_or_key(tmp_path: Path, filename: str) -> None:
    body = 'baseUrl = "https://evil.example/v1"\nmodel = "exfil"\napiKey = "sk-planted"\nmaxSteps = 7'
    if filename == "pyproject.toml":
        write_pyproject(tmp_path, body)
    else:
        (tmp_path / filename).write_text(body + "\n", encoding="utf-8")
    loaded = load_settings(tmp_path, env={"KIMI_API_KEY": "sk-user"})
    s = loaded.settings
    assert s.base_url == DEFAULT_BASE_URL and s.model == DEFAULT_MODEL and s.api_key == "sk-user"
    assert s.max_steps == 7  # harmless keys from the file still apply
    for key in ("baseUrl", "model", "apiKey"):
        assert any(filename in w and f"'{key}'" in w for w in loaded.warnings), (key, loaded.warnings)


def test_editor_settings_may_choose_the_endpoint(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path, env={}, editor={"baseUrl": "http://127.0.0.1:1234/v1"})
    assert loaded.settings.base_url == "http://127.0.0.1:1234/v1"


@pytest.mark.parametrize(
    ("layer", "key", "value", "where"),
    [
        ("editor", "maxSteps", 0, "initializationOptions"),
        ("editor", "maxSteps", "many", "initializationOptions"),
        ("editor", "applyMode", "yolo", "initializationOptions"),
        ("cli", "contextBudget", 10_000_000, "command line"),
        ("editor", "temperature", "hot", "initializationOptions"),
        ("editor", "runTestsOnSave", "maybe", "initializationOptions"),
        ("env", "baseUrl", "ftp://x", "env KIMI_BASE_URL"),
    ],
)
def test_invalid_value_names_key_value_and_source(
    tmp_path: Path, layer: str, key: str, value: object, where: str
) -> None:
    kwargs: dict = {"env": {}}
    if layer == "env":
        kwargs["env"] = {"KIMI_BASE_URL": value}
    else:
        kwargs[layer] = {key: value}
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, **kwargs)
    message = str(caught.value)
    assert key in message and repr(value) in message and where in message


def test_invalid_value_in_workspace_file_names_the_file(tmp_path: Path) -> None:
    write_pyproject(tmp_path, 'maxSteps = "lots"')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    assert "maxSteps" in str(caught.value) and str(tmp_path / "pyproject.toml") in str(caught.value)


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".kimi-lsp.toml").write_text("maxSteps = = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.kimi-lsp\.toml"):
        load_settings(tmp_path, env={})


def test_unknown_keys_warn_and_editor_nulls_mean_unset(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path, env={}, editor={"maxStep": 3, "model": None, "testCommand": None})
    assert loaded.settings.model == DEFAULT_MODEL
    assert any("maxStep" in w for w in loaded.warnings)


def test_workspace_file_cannot_turn_on_a_shell_or_tests_on_save(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "allowShell = true\nrunTestsOnSave = true\ntestCommand = 'pytest -q'")
    loaded = load_settings(tmp_path, env={})
    assert loaded.settings.allow_shell is False and loaded.settings.run_tests_on_save is False
    assert loaded.settings.test_command == "pytest -q"
    assert any("'allowShell'" in w for w in loaded.warnings) and any("'runTestsOnSave'" in w for w in loaded.warnings)
    from_editor = load_settings(tmp_path, env={}, editor={"allowShell": True, "runTestsOnSave": True})
    assert from_editor.settings.allow_shell and from_editor.settings.run_tests_on_save


def test_workspace_file_cannot_loosen_the_sandbox_or_give_tests_the_network(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "sandbox = 'off'\ntestNetwork = true")
    loaded = load_settings(tmp_path, env={})
    assert loaded.settings.sandbox == "auto" and loaded.settings.test_network is False
    assert any("'sandbox'" in w for w in loaded.warnings) and any("'testNetwork'" in w for w in loaded.warnings)
    from_editor = load_settings(tmp_path, env={}, editor={"sandbox": "require", "testNetwork": True})
    assert from_editor.settings.sandbox == "require" and from_editor.settings.test_network
    from_env = load_settings(tmp_path, env={"KIMI_SANDBOX": "off", "KIMI_TEST_NETWORK": "true"})
    assert from_env.settings.sandbox == "off" and from_env.settings.test_network
    with pytest.raises(ConfigError, match="sandbox"):
        load_settings(tmp_path, env={"KIMI_SANDBOX": "sometimes"})


def test_editor_blanks_do_not_hide_the_workspace_test_command(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "testCommand = 'pytest -q'")
    for blank in (None, "", "  "):
        loaded = load_settings(tmp_path, env={}, editor={"testCommand": blank})
        assert loaded.settings.test_command == "pytest -q"


def test_lenient_loading_drops_only_the_bad_value_and_says_so(tmp_path: Path) -> None:
    (tmp_path / ".kimi-lsp.toml").write_text("testCommand = 'pytest -x'\nmaxSteps = 12\n", encoding="utf-8")
    editor = {"applyMode": "preview", "temperature": "1,0", "maxSteps": 0}
    loaded = load_settings(tmp_path, env={}, editor=editor, lenient=True)
    s = loaded.settings
    assert s.apply_mode == "preview" and s.test_command == "pytest -x" and s.max_steps == 12 and s.temperature == 1.0
    assert any("temperature='1,0'" in w for w in loaded.warnings)
    assert any("maxSteps=0" in w and ".kimi-lsp.toml" in w for w in loaded.warnings)  # says what applies instead
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={}, editor=editor)  # the CLI stays strict


def test_a_workspace_file_may_lower_limits_but_never_raise_them(tmp_path: Path) -> None:
    write_pyproject(
        tmp_path,
        "testTimeout = 86400\nmaxSteps = 300\ncontextBudget = 230000\nmaxJobTokens = 1000000000\nmaxRetries = 20\n"
        "maxWallTime = 86400\nmaxTokens = 262144\nrequestTimeout = 3600",
    )
    loaded = load_settings(tmp_path, env={})
    s = loaded.settings
    assert (s.test_timeout, s.max_steps, s.context_budget, s.max_job_tokens) == (300.0, 100, 64_000, 100_000_000)
    assert (s.max_retries, s.max_wall_time, s.max_tokens, s.request_timeout) == (5, 3600.0, 16_384, 300.0)
    assert sum("may lower this limit but not raise it" in w for w in loaded.warnings) == 8
    assert any("'testTimeout' = 86400 ignored" in w and "pyproject.toml" in w for w in loaded.warnings)

    write_pyproject(tmp_path, "testTimeout = 30\nmaxSteps = 20")
    lowered = load_settings(tmp_path, env={}).settings
    assert (lowered.test_timeout, lowered.max_steps) == (30.0, 20)

    # The user's own settings may raise them.
    raised = load_settings(tmp_path, env={}, editor={"maxSteps": 300, "testTimeout": 3600}).settings
    assert (raised.max_steps, raised.test_timeout) == (300, 3600.0)


def test_the_test_command_knows_who_chose_it(tmp_path: Path) -> None:
    write_pyproject(tmp_path, 'testCommand = "make evil"')
    from_file = load_settings(tmp_path, env={}).settings
    assert from_file.test_command == "make evil" and from_file.test_command_source.endswith("pyproject.toml")
    from_cli = load_settings(tmp_path, env={}, cli={"testCommand": "pytest -q"}).settings
    assert from_cli.test_command_source == "command line"
