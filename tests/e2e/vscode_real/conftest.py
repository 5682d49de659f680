"""A real VS Code for the suite: code-server 4.100.3 (VS Code 1.100.3's extension host and workbench) with the
extension packaged from a fresh copy of editors/vscode, driven through headless Chromium by playwright.

The host is installed by ``tests/e2e/vscode_real/setup.sh`` into ``$KIMI_VSCODE_HOST`` (default
``~/.cache/kimi-lsp/vscode-host``). The tests marked ``vscode_host`` run only when asked for
(``KIMI_VSCODE_REAL=1``, which ``run.sh`` sets after installing); otherwise they are skipped and say why.
Screenshots of every test land in ``tests/e2e/vscode_real/output/<test>/``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import STAND_IN_KEY, StandIn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
EXTENSION = REPO / "editors" / "vscode"
HOST = Path(os.environ.get("KIMI_VSCODE_HOST", Path.home() / ".cache" / "kimi-lsp" / "vscode-host"))
CODE_SERVER = HOST / "cs" / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path(os.environ.get("KIMI_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = HERE / "output"


def missing_host() -> str | None:
    """Why the real host does not run now, or None."""
    if os.environ.get("KIMI_VSCODE_REAL") != "1":
        return "the real-VS Code suite takes minutes: run tests/e2e/vscode_real/run.sh (or set KIMI_VSCODE_REAL=1)"
    if not CODE_SERVER.exists():
        return f"VS Code host not installed at {HOST}: run tests/e2e/vscode_real/setup.sh"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed in this venv: run tests/e2e/vscode_real/setup.sh"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (set KIMI_CHROMIUM)"
    if not (EXTENSION / "node_modules").is_dir():
        return "editors/vscode/node_modules is missing: run tests/e2e/vscode_real/setup.sh"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vscode_host: drives a real VS Code (code-server) through Chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_host()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("vscode_host"):
            item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(args: list[str], cwd: Path, timeout: float = 300) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def package_kimi(folder: Path) -> Path:
    """`npm run package`, as the README says, in a copy holding only the tracked files (and node_modules)."""
    run(["npm", "run", "--silent", "package"], folder)
    return folder / "kimi-lsp.vsix"


def package_fixture(folder: Path) -> Path:
    tool = EXTENSION / "node_modules" / ".bin" / "vsce"
    run([str(tool), "package", "--allow-missing-repository", "--skip-license", "--out", "fixture.vsix"], folder)
    return folder / "fixture.vsix"


@pytest.fixture(scope="session")
def extensions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kimi, packaged from a fresh copy of its tracked files (no dist/: `npm run package` must build it),
    and a second extension that publishes diagnostics, both installed into a code-server extensions folder."""
    work = tmp_path_factory.mktemp("extensions")
    fresh = work / "kimi"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=EXTENSION, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        (fresh / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(EXTENSION / name, fresh / name)
    (fresh / "node_modules").symlink_to(EXTENSION / "node_modules")
    lint = work / "lint"
    shutil.copytree(HERE / "lint_extension", lint)
    installed = work / "installed"
    for vsix in (package_kimi(fresh), package_fixture(lint)):
        run([str(CODE_SERVER), "--extensions-dir", str(installed), "--install-extension", str(vsix)], work)
    return installed


@dataclass
class Host:
    """One running code-server: its address, where it keeps its state, and the servers its windows started."""

    url: str
    user_data: Path
    pids: Path
    process: subprocess.Popen[bytes]

    def server_pids(self, folder: Path) -> list[int]:
        """The kimi-lsp processes started for windows on ``folder``, oldest first."""
        if not self.pids.exists():
            return []
        found = []
        for line in self.pids.read_text(encoding="utf-8").splitlines():
            pid, _, cwd = line.partition(" ")
            if Path(cwd) == folder:
                found.append(int(pid))
        return found

    def stop(self) -> None:
        # Our own process group (start_new_session): code-server, its extension hosts and their servers.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def start_host(root: Path, extensions: Path, settings: dict[str, Any], env: dict[str, str]) -> Host:
    user_data = root / "user-data"
    (user_data / "User").mkdir(parents=True)
    quiet = {
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "workbench.enableExperiments": False,
        "git.enabled": False,
        "files.autoSave": "off",
    }
    (user_data / "User" / "settings.json").write_text(json.dumps({**quiet, **settings}, indent=2), encoding="utf-8")
    pids = root / "server-pids"
    server = root / "kimi-lsp"
    # The server the extension starts: this checkout's, recording its pid and folder for the crash test.
    server.write_text(
        f'#!/bin/sh\necho "$$ $PWD" >> "{pids}"\nexec "{sys.executable}" -m kimi_lsp "$@"\n', encoding="utf-8"
    )
    server.chmod(0o755)
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY", "KIMI_BASE_URL")}
    process_env = {
        **base,
        # Nothing leaves the machine: the marketplace is a dead loopback port.
        "EXTENSIONS_GALLERY": json.dumps({"serviceUrl": "http://127.0.0.1:9/", "itemUrl": "http://127.0.0.1:9/"}),
        "KIMI_LSP_STATE_DIR": str(root / "state"),
        "XDG_CONFIG_HOME": str(root / "xdg-config"),
        "XDG_DATA_HOME": str(root / "xdg-data"),
        **env,
    }
    log = (root / "code-server.log").open("wb")
    process = subprocess.Popen(
        [
            str(CODE_SERVER),
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--user-data-dir",
            str(user_data),
            "--extensions-dir",
            str(extensions),
        ],
        env=process_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    host = Host(f"http://127.0.0.1:{port}", user_data, pids, process)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{host.url}/healthz", timeout=2):
                return host
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                host.stop() if process.poll() is None else None
                raise RuntimeError(f"code-server did not start; see {root / 'code-server.log'}") from None
            time.sleep(0.2)


STAND_IN_PORT: int | None = None


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """The model for one test, always on the port the host's user settings name."""
    assert STAND_IN_PORT is not None, "request the `host` fixture first"
    with StandIn(port=STAND_IN_PORT) as server:
        yield server


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory, extensions_dir: Path) -> Iterator[Host]:
    """code-server with a key in its environment and the stand-in as the user's `kimi.baseUrl`."""
    global STAND_IN_PORT
    STAND_IN_PORT = free_port()
    root = tmp_path_factory.mktemp("host")
    settings = {"kimi.serverPath": str(root / "kimi-lsp"), "kimi.baseUrl": f"http://127.0.0.1:{STAND_IN_PORT}/v1"}
    running = start_host(root, extensions_dir, settings, {"KIMI_API_KEY": STAND_IN_KEY})
    yield running
    running.stop()


@pytest.fixture(scope="session")
def host_without_key(tmp_path_factory: pytest.TempPathFactory, extensions_dir: Path) -> Iterator[Host]:
    """code-server as a new user has it: no key anywhere and the default endpoint."""
    root = tmp_path_factory.mktemp("host-no-key")
    running = start_host(root, extensions_dir, {"kimi.serverPath": str(root / "kimi-lsp")}, {})
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = OUTPUT / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
