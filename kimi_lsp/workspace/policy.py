"""The workspace policy: which paths are secret, which folders are hidden, copied or linked, where a link may lead.

Decided here once and asked by the index, the tools, the shadow workspace and the server, so no two lists drift.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re

__all__ = [
    "LINKED_DIRS",
    "NEVER_COPIED_DIRS",
    "SKIPPED_DIRS",
    "ShownPaths",
    "is_never_copied_dir",
    "is_secret_path",
    "is_skipped_dir",
    "link_target",
    "links_to_secret",
]

# Basenames (matched case-insensitively, shell-style) of files that hold keys, tokens or passwords.
_SECRET_NAMES = (
    ".env",
    ".env.*",
    ".envrc",
    "*.env",
    ".dev.vars",  # Cloudflare wrangler's local secrets
    ".dev.vars.*",
    # Private SSH keys; the ``.pub`` halves are public by design and stay readable (see ``is_secret_path``).
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
    "*.ppk",  # PuTTY private keys
    "*.gpg",
    "*.asc",  # ASCII-armoured PGP keys
    ".netrc",
    "_netrc",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",  # may hold npmAuthToken
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".dockercfg",
    ".s3cfg",
    ".boto",
    ".vault-token",
    "auth.json",  # Composer and podman/skopeo registry tokens
    "kubeconfig",
    "kubeconfig.y*ml",
    "kubeconfig.json",
    "*.kubeconfig",
    "*.tfvars",
    "*.tfvars.json",
    "*.tfstate",  # Terraform state holds every secret of the resources it manages
    "*.tfstate.*",
    "client_secret*.json",
    "*service_account*.json",
    "*service-account*.json",
    "local.settings.json",  # Azure Functions
    "credentials",
    "credentials_*",
    "credentials-*",
    "*.secret",
    "*.secrets",
    ".my.cnf",  # MySQL client password
    ".databrickscfg",
    "application_default_credentials.json",  # gcloud: a refresh token
    "kaggle.json",
    ".terraformrc",
    "terraform.rc",
    ".sentryclirc",
    "serviceaccountkey*.json",  # Firebase Admin SDK keys, under the names their docs and console use
    "*-firebase-adminsdk-*.json",
    "firebase-adminsdk-*.json",
    "token.json",  # Google API quickstarts keep the user's OAuth tokens here
    "token.pickle",
    ".clasprc.json",
    "rclone.conf",
    "*.ovpn",  # OpenVPN profiles carry the client key inline
    ".bash_history",  # commands typed with tokens in them
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
)
_SECRET_NAME_RE = re.compile("|".join(fnmatch.translate(pattern) for pattern in _SECRET_NAMES), re.IGNORECASE)

# ``secrets.*``, ``secret.*`` and ``credentials.*`` (with or without a leading dot) are secret data
# (``secrets.yaml``, ``.secrets.toml``, ``credentials.yml.enc``) unless they are source code: a module
# named ``secrets.py`` or ``credentials.py`` holds code that reads secrets, and the model may need it.
# Unknown suffixes count as data, so a new format is hidden rather than shown. Shell scripts are data
# here: ``secrets.sh`` is usually a list of ``export TOKEN=...`` lines.
_SECRET_STEM_RE = re.compile(r"^\.?(?:secrets?|credentials)\.(.+)$", re.IGNORECASE)
_CODE_SUFFIXES = frozenset(
    "py pyi pyx js mjs cjs jsx ts mts cts tsx rb go rs java kt kts scala cs fs swift c h cc cpp hpp m "
    "php lua pl pm r jl ex exs erl hrl clj cljs dart vue svelte groovy".split()
)

# Folders whose files are secret whatever they are called, at any depth below them.
_SECRET_TREES = frozenset({".ssh", ".gnupg", ".azure"})
# Deeper folders secret whole (their last parts): AWS SSO's cached access tokens.
_SECRET_SUBTREES = (".aws/sso",)

# File name -> the folders (their last parts, one or more: ``.config/gh``) where that file is secret.
_SECRET_IN_FOLDER: dict[str, tuple[str, ...]] = {
    "credentials": (".aws",),
    "config": (".aws", ".kube", ".git"),  # a repository's config may carry a token in a remote URL
    "config.json": (".docker",),
    "hosts.yml": (".config/gh",),  # GitHub CLI tokens
    "hub": (".config",),  # hub CLI GitHub token
}
# Every secret folder has a dotted part, so a file with no dot in its folder is in none of them.
assert all("." in folder for folders in _SECRET_IN_FOLDER.values() for folder in folders)
assert all(folder.startswith(".") for folder in _SECRET_TREES)

# Folders, by name at any depth, in three kinds. Every one of them is hidden from the model (listings, Glob,
# Grep, the prompt); they differ in what the shadow workspace does with them.
# Never copied into the shadow: version-control data, caches, build output, editor settings.
NEVER_COPIED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".eggs",
        "build",
        "dist",
        ".idea",
        ".vscode",
    }
)
# Installed dependencies the tests need: linked into the shadow (top level and one level down), not copied.
LINKED_DIRS = frozenset({".venv", "venv", "node_modules", ".tox", ".nox", "__pypackages__"})
# Copied into the shadow (tests may import vendored code or read fixtures there) but never shown.
_HIDDEN_ONLY_DIRS = frozenset(
    {
        ".env",
        "bower_components",
        "site-packages",
        ".next",
        ".nuxt",
        ".gradle",
        ".cache",
        "htmlcov",
        "coverage",
        "vendor",
        ".terraform",
        ".bench",
    }
)
SKIPPED_DIRS = NEVER_COPIED_DIRS | LINKED_DIRS | _HIDDEN_ONLY_DIRS


@functools.lru_cache(maxsize=8192)
def _secret_name(name: str) -> bool:
    # Workspaces repeat a few names thousands of times (``__init__.py``, ``django.po``).
    if _SECRET_NAME_RE.match(name) is not None:
        # The public half of an SSH key pair is made to be shared (``id_ed25519.pub``, say, for a
        # deploy script); it stays readable outside ``.ssh`` (where everything is secret).
        lowered = name.lower()
        return not (lowered.startswith("id_") and lowered.endswith(".pub"))
    stem = _SECRET_STEM_RE.match(name)
    return stem is not None and stem.group(1).lower() not in _CODE_SUFFIXES


def is_secret_path(relpath: str) -> bool:
    """True when ``relpath`` (workspace-relative, either slash) names a file that may hold secrets.

    Decided by name alone: a link's own name, so callers that follow links also check where they
    lead (``WorkspaceIndex`` does, with ``links_to_secret``).
    """
    if "\\" in relpath:
        relpath = relpath.replace("\\", "/")
    folder, _, name = relpath.rstrip("/").rpartition("/")
    if _secret_name(name):
        return True
    if not folder or "." not in folder:
        return False  # a cheap no for most paths: no secret folder can be above this file
    parts = folder.lower().split("/")
    # A secret folder anywhere above (``.ssh/keys/x``) counts whatever the file is called.
    if not _SECRET_TREES.isdisjoint(parts):
        return True
    framed = "/" + "/".join(parts) + "/"
    if any(f"/{tree}/" in framed for tree in _SECRET_SUBTREES):
        return True
    folders = _SECRET_IN_FOLDER.get(name.lower())
    if not folders:
        return False
    lowered_folder = "/".join(parts)
    return any(lowered_folder == wanted or lowered_folder.endswith("/" + wanted) for wanted in folders)


def link_target(root: str, relpath: str) -> str | None:
    """The workspace-relative POSIX path that ``relpath`` leads to once every link on the way is
    followed (``relpath`` itself, normalised, when there is none); None when it leads out of ``root``.

    ``root`` is an absolute folder with no links in it (``Path.resolve()`` gives one).
    """
    full = os.path.join(root, relpath)
    try:
        target = os.path.realpath(full)
    except (OSError, ValueError):  # a NUL in the name: nothing to read there
        return None
    if target == full:
        return relpath  # no link on the way: the common case, decided without string work
    prefix = root.rstrip(os.sep) + os.sep
    if not target.startswith(prefix):
        return None
    return target[len(prefix) :].replace(os.sep, "/")


def links_to_secret(root: str, relpath: str) -> bool:
    """True when reading ``relpath`` under ``root`` would read a secret file through a link, or a file
    outside ``root``.

    ``is_secret_path`` judges a link by its own name (``deploy.cfg``); this judges what a reader of
    the path gets (``.env.production``). A link inside a secret folder is secret by name already.
    """
    target = link_target(root, relpath)
    return target is None or (target != relpath and is_secret_path(target))


def is_skipped_dir(name: str) -> bool:
    """True for vendored, generated or tool folders that never hold the user's own code: never shown."""
    return name in SKIPPED_DIRS or name.endswith(".egg-info")


def is_never_copied_dir(name: str) -> bool:
    """True for folders the shadow workspace neither copies nor links (see ``NEVER_COPIED_DIRS``)."""
    return name in NEVER_COPIED_DIRS or name.endswith(".egg-info")


class ShownPaths:
    """``allowed(relpath)`` for thousands of paths: each folder's verdict is remembered, so a folder's name
    is judged once however many files it holds (the index asks this for every file it lists)."""

    def __init__(self) -> None:
        self._folder_ok: dict[str, bool] = {}

    def allowed(self, relpath: str) -> bool:
        """True when ``relpath`` may be shown: a plain name, in no hidden folder, and not secret by name."""
        folder, _, name = relpath.rpartition("/")
        if name in ("", ".", ".."):
            return False
        if folder:
            folder_ok = self._folder_ok.get(folder)
            if folder_ok is None:
                folder_ok = self._folder_allowed(folder)
            if not folder_ok:
                return False
        return not is_secret_path(relpath)

    def _folder_allowed(self, folder: str) -> bool:
        """True when no part of ``folder`` (non-empty) is empty, ``.``, ``..`` or a skipped folder.

        Decided from the nearest folder above already decided, so each folder's own name is checked
        once (a workspace has thousands of files in a few hundred folders); a loop, not recursion,
        as paths may be deep.
        """
        known = self._folder_ok
        pending: list[str] = []
        current = folder
        ok = True
        while True:
            pending.append(current)
            parent, slash, _ = current.rpartition("/")
            if not slash:
                break
            if parent:
                above = known.get(parent)
                if above is not None:
                    ok = above
                    break
            current = parent  # "" after a leading slash: its empty name fails below
        for path in reversed(pending):
            part = path.rpartition("/")[2]
            ok = ok and part not in ("", ".", "..") and not is_skipped_dir(part)
            if path:
                known[path] = ok
        return ok
