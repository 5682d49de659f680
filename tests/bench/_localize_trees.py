"""The buggy trees of the localization benchmark, stored in the repository: one ``tar.xz`` per project.

``localize/trees/<package>.tar.xz`` holds, for each release the bugs use, every file of the release's sdist
under ``<version>/``: text whole, and empty the files the workspace index calls binary by their name (images,
fonts, archives), which it never reads: only their paths reach the prompt (the repository map's budget reserve
counts every path), so the prompt is the same as on the whole sdist. Consecutive releases share most of their
files and xz's 64 MiB window spans the whole archive, so a release costs little more than what changed since
the one before.
``store`` rebuilds an archive from the sdists (downloaded with pip, or taken from a folder);
``Trees`` reads each archive once per run and writes one release's files into a folder.
"""

from __future__ import annotations

import io
import lzma
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from packaging.version import Version

from kimi_lsp.workspace.reading import binary_by_name

TREES = Path(__file__).resolve().parent / "localize" / "trees"
_PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
_LICENSE = re.compile(r"^(LICEN[CS]E|COPYING)", re.I)


def stored(path: str, data: bytes) -> bytes:
    """What the archive keeps of a release's file: nothing of a binary the index knows by its name, else all."""
    return b"" if binary_by_name(path) else data


def sdist_files(archive_path: Path) -> dict[str, bytes]:
    """The regular files of an sdist as stored, by path below its top folder."""
    files = {}
    with tarfile.open(archive_path) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1] or not member.isfile():
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                files[parts[1]] = stored(parts[1], handle.read())
    return files


def _sdist(package: str, version: str, sdists: Path | None, download_to: Path) -> Path:
    wanted = f"{package}-{version}.tar.gz".lower().replace("-", "_")
    if sdists is not None:
        for path in sdists.iterdir():
            if path.name.lower().replace("-", "_") == wanted:
                return path
    into = download_to / f"{package}-{version}"
    into.mkdir()
    subprocess.run([*_PIP_DOWNLOAD, "-d", str(into), f"{package}=={version}"], check=True, capture_output=True)
    found = list(into.glob("*.tar.gz"))
    if len(found) != 1:
        raise RuntimeError(f"no single sdist for {package}=={version}: {[p.name for p in found]}")
    return found[0]


def store(package: str, versions: Iterable[str], sdists: Path | None = None, folder: Path = TREES) -> Path:
    """Rebuilds ``<package>.tar.xz`` from the sdists of ``versions`` (those in ``sdists`` first, else pip's)."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp, tarfile.open(fileobj=buffer, mode="w") as out:
        for version in sorted(set(versions), key=Version):
            files = sdist_files(_sdist(package, version, sdists, Path(tmp)))
            if not any(_LICENSE.match(path) for path in files):
                raise RuntimeError(f"{package}=={version}: the sdist has no license file at its top")
            for path in sorted(files):
                # Fixed owner, mode and time: the same sdists give the same archive.
                member = tarfile.TarInfo(f"{version}/{path}")
                member.size, member.mode, member.mtime = len(files[path]), 0o644, 0
                out.addfile(member, io.BytesIO(files[path]))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{package}.tar.xz"
    target.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    return target


class Trees:
    """The stored releases, each archive read once per run (kept in memory: a few tens of MB at most)."""

    def __init__(self, folder: Path = TREES) -> None:
        self._folder = folder
        self._files: dict[str, dict[str, dict[str, bytes]]] = {}

    def extract(self, package: str, version: str, root: Path) -> None:
        """Writes the stored files of ``package==version`` into ``root``."""
        files = self._releases(package).get(version)
        if files is None:
            raise RuntimeError(f"{package}=={version} is not stored: run with --store")
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)

    def _releases(self, package: str) -> dict[str, dict[str, bytes]]:
        if package not in self._files:
            path = self._folder / f"{package}.tar.xz"
            if not path.exists():
                raise RuntimeError(f"no stored trees for {package} ({path}): run with --store")
            releases: dict[str, dict[str, bytes]] = {}
            with tarfile.open(path, mode="r:xz") as archive:
                for member in archive:
                    handle = archive.extractfile(member) if member.isfile() else None
                    version, _, relpath = member.name.partition("/")
                    if handle is None or not relpath or ".." in relpath.split("/") or relpath.startswith("/"):
                        continue
                    releases.setdefault(version, {})[relpath] = handle.read()
            self._files[package] = releases
        return self._files[package]
