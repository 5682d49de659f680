"""The bubblewrap (``bwrap``) command line that confines one test run, and whether bwrap works here.

Inside, the filesystem is the host's, read-only, with these changes:

- the job's folder (the shadow) appears read-write **at the workspace's own path**, so editable installs,
  absolute paths in configs and ``__file__``-relative lookups all resolve to the shadow, and the user's
  real files at that path are out of reach;
- heavy folders the shadow links to the user's tree (``.venv``, ``node_modules``) are the user's real
  folders mounted read-only at their usual place. A link cannot be a mount point, so a folder holding one
  is rebuilt from its entries: a private tmpfs with each entry bound onto it (files created right there,
  beside ``.venv``, do not outlive the run);
- credential places in ``$HOME`` (ssh, cloud and registry credentials, keyrings, kimi-lsp's own config and
  state) and the session's runtime folder (agent and keyring sockets) are empty;
- ``/tmp`` is private, ``/dev`` minimal, ``/proc`` shows only the run's own processes (a PID namespace whose
  init takes every descendant with it when the command ends), and there is no network unless asked.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

# Relative to $HOME: where credentials, tokens and keys usually live.
CREDENTIAL_PLACES = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".yarnrc.yml",
    ".git-credentials",
    ".config/git/credentials",
    ".config/gh",
    ".config/hub",
    ".local/share/keyrings",
    ".password-store",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".gem/credentials",
    ".m2/settings.xml",
    ".gradle/gradle.properties",
    ".terraform.d",
    ".vault-token",
    ".pgpass",
    ".my.cnf",
    ".s3cfg",
    ".boto",
    ".config/rclone",
    ".config/op",
    ".config/kimi-lsp",
    ".local/state/kimi-lsp",
    ".cache/kimi-lsp",
)
_BASE = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-pid")
_PRIVATE = ("/tmp/", "/dev/", "/proc/")


def find_bwrap(env: Mapping[str, str] | None = None) -> str | None:
    """The bwrap executable on ``PATH`` (this process's, or ``env``'s), or None."""
    path = (env if env is not None else os.environ).get("PATH")
    return shutil.which("bwrap", path=path)


@functools.cache
def probe(bwrap: str) -> str | None:
    """None when ``bwrap`` can build a sandbox here; else why not (its own words). Asked once per process."""
    try:
        done = subprocess.run(
            [bwrap, *_BASE, "--unshare-net", "--die-with-parent", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    return (done.stderr.strip() or f"exit {done.returncode}").splitlines()[-1]


def hidden_places(env: Mapping[str, str]) -> list[Path]:
    """The credential places that exist for this user (resolved), to be emptied inside the sandbox."""
    places: list[Path] = []
    home = env.get("HOME") or os.path.expanduser("~")
    candidates = [Path(home, rel) for rel in CREDENTIAL_PLACES]
    for name, default in (("XDG_CONFIG_HOME", ".config"), ("XDG_STATE_HOME", ".local/state")):
        base = env.get(name)
        if base and Path(base) != Path(home, default):
            candidates.append(Path(base, "kimi-lsp"))
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        candidates.append(Path(runtime))
    for candidate in candidates:
        if not os.path.lexists(candidate):
            continue
        real = Path(os.path.realpath(candidate))
        if real.exists() and not str(real).startswith(_PRIVATE) and real not in places:
            places.append(real)
    return places


def command(
    bwrap: str,
    argv: list[str],
    *,
    folder: Path,
    workspace: Path,
    linked: Iterable[str] = (),
    network: bool = False,
    hide: Iterable[Path] = (),
    show_in_tmp: Iterable[Path] = (),
) -> list[str]:
    """The bwrap argv that runs ``argv`` in ``workspace`` (which shows ``folder``'s files), confined.

    ``show_in_tmp``: host folders under ``/tmp`` the command needs (an interpreter or a virtualenv there: CI
    clones often live in /tmp), shown read-only on top of the private ``/tmp``.
    """
    args = [bwrap, *_BASE, "--die-with-parent"]
    for place in show_in_tmp:
        args += ["--ro-bind", str(place), str(place)]
    if not network:
        args.append("--unshare-net")
    for place in hide:
        args += ["--tmpfs", str(place)] if place.is_dir() else ["--ro-bind", "/dev/null", str(place)]
    args += _workspace_view(folder, workspace, set(linked))
    args += ["--chdir", str(workspace), "--", *argv]
    return args


def _workspace_view(folder: Path, workspace: Path, linked: set[str]) -> list[str]:
    if not linked:
        return ["--bind", str(folder), str(workspace)]
    # Every folder on the way to a linked one is rebuilt entry by entry (see the module docstring).
    rebuilt = {""}
    for rel in linked:
        parts = rel.split("/")[:-1]
        rebuilt.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    args: list[str] = []
    for rel_dir in sorted(rebuilt, key=lambda r: (r.count("/"), r)):
        source = folder / rel_dir if rel_dir else folder
        target = workspace / rel_dir if rel_dir else workspace
        args += ["--tmpfs", str(target)]
        try:
            entries = sorted(os.scandir(source), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if rel in rebuilt:
                continue  # its own turn comes
            at = str(target / entry.name)
            if rel in linked and entry.is_symlink():
                real = os.path.realpath(entry.path)
                if os.path.isdir(real):
                    args += ["--ro-bind", real, at]
            elif entry.is_symlink():
                args += ["--symlink", os.readlink(entry.path), at]
            else:
                args += ["--bind", entry.path, at]
    return args


def tmp_folders_needed(command: str, env: Mapping[str, str]) -> list[Path]:
    """The top folders under ``/tmp`` holding the command's program or a ``PATH`` entry (read-only in the run).

    The sandbox's ``/tmp`` is private; without these, a test command whose interpreter or virtualenv lives
    under ``/tmp`` (``/tmp/ci/.venv/bin/python -m pytest``) would not even start.
    """
    try:
        first = shlex.split(command)[0] if command.strip() else ""
    except ValueError:
        first = ""
    candidates = [first] if first.startswith("/") else []
    candidates += [entry for entry in env.get("PATH", "").split(os.pathsep) if entry.startswith("/")]
    found: list[Path] = []
    for candidate in candidates:
        parts = Path(os.path.normpath(candidate)).parts
        if len(parts) >= 3 and parts[:2] == ("/", "tmp"):
            top = Path("/tmp", parts[2])
            if top.is_dir() and top not in found:
                found.append(top)
    return found
