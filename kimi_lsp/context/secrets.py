"""Which workspace paths must never be read into a prompt, and which folders are not worth reading.

Shared by the context engine and the agent's file tools, so one list decides for both.
"""

from __future__ import annotations

import fnmatch
import functools
import re

__all__ = ["SKIPPED_DIRS", "is_secret_path", "is_skipped_dir"]

# Basenames (matched case-insensitively, shell-style) of files that hold keys, tokens or passwords.
_SECRET_NAMES = (
    ".env",
    ".env.*",
    ".envrc",
    "*.env",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".dockercfg",
    "credentials",
    "credentials.*",
    "credentials_*",
    "credentials-*",
    "secrets.*",
    "secret.*",
    "*.secret",
    "*.secrets",
)
_SECRET_NAME_RE = re.compile("|".join(fnmatch.translate(pattern) for pattern in _SECRET_NAMES), re.IGNORECASE)

# Paths whose folder makes them secret whatever the file is called.
_SECRET_DIR_FILES = (
    (".aws", "credentials"),
    (".aws", "config"),
    (".docker", "config.json"),
    (".ssh", "*"),
    (".gnupg", "*"),
    (".kube", "config"),
)

_SECRET_FOLDERS: dict[str, tuple[str, ...]] = {}
for _folder, _name in _SECRET_DIR_FILES:
    _SECRET_FOLDERS.setdefault(_folder, ())
    _SECRET_FOLDERS[_folder] += (_name,)

_DOTTED_FOLDERS_ONLY = all(folder.startswith(".") for folder in _SECRET_FOLDERS)

SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".env",
        "node_modules",
        "bower_components",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".eggs",
        "site-packages",
        "dist",
        "build",
        ".next",
        ".nuxt",
        ".gradle",
        ".idea",
        ".cache",
        "htmlcov",
        "coverage",
        "vendor",
        ".terraform",
        ".bench",
    }
)


@functools.lru_cache(maxsize=8192)
def _secret_name(name: str) -> bool:
    # Workspaces repeat a few names thousands of times (``__init__.py``, ``django.po``).
    return _SECRET_NAME_RE.match(name) is not None


def is_secret_path(relpath: str) -> bool:
    """True when ``relpath`` (workspace-relative, either slash) names a file that may hold secrets."""
    if "\\" in relpath:
        relpath = relpath.replace("\\", "/")
    folder, _, name = relpath.rstrip("/").rpartition("/")
    if _secret_name(name):
        return True
    if not folder:
        return False
    lowered_folder = folder.lower()
    if _DOTTED_FOLDERS_ONLY and "." not in lowered_folder:
        return False  # a cheap no for most paths: no secret folder can be above this file
    parts = lowered_folder.split("/")
    # A secret folder anywhere above (``.ssh/keys/x``) counts whatever the file is called.
    if ".ssh" in parts or ".gnupg" in parts:
        return True
    patterns = _SECRET_FOLDERS.get(parts[-1], ())
    lowered = name.lower()
    return any(fnmatch.fnmatch(lowered, pattern) for pattern in patterns)


def is_skipped_dir(name: str) -> bool:
    """True for vendored, generated or tool folders that never hold the user's own code."""
    return name in SKIPPED_DIRS or name.endswith(".egg-info")
