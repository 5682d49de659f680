"""The shadow workspace: a private copy of the user's tree where the model reads, edits and runs tests.

:meth:`Shadow.create` copies the tracked and untracked-not-ignored files (``git ls-files`` in a repository,
else a walk that skips heavy folders) into a fresh temporary folder, lays the editor's unsaved buffers over
them, and symlinks heavy ignored folders (``.venv``, ``node_modules``, ...) so tests find their
dependencies without a copy. Files are copied, never hard-linked: a hard link would let an edit in the
shadow write the user's file. Secret files are not copied at all.

The shadow remembers the bytes it laid down (its ``Snapshot``, see ``snapshot.py``), so :meth:`Shadow.diff`
is the model's work alone. Writing a result back is ``writeback.apply_changes``'s business: by then the
shadow is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from kimi_lsp.agent.snapshot import Original, ShadowDiff, Snapshot, is_heavy_dir
from kimi_lsp.errors import KimiError
from kimi_lsp.processes import alive
from kimi_lsp.workspace import git
from kimi_lsp.workspace.listing import walk
from kimi_lsp.workspace.paths import is_plain_relpath, resolve_in_root
from kimi_lsp.workspace.policy import LINKED_DIRS, is_never_copied_dir, is_secret_path

_COPY_WORKERS = 8
# Files larger than this are left out of the shadow (with a note to the model): a copy would hold them twice
# in memory (the snapshot keeps what the shadow started with), and no edit the model makes needs them.
BIG_FILE_BYTES = 32 * 1024 * 1024


def _heavy_dirs(root: Path) -> list[str]:
    """Linkable heavy folders at the top level and one level down (monorepos keep ``node_modules`` there)."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if not entry.is_dir(follow_symlinks=False) or is_never_copied_dir(entry.name):
                continue
            if entry.name in LINKED_DIRS:
                found.append(entry.name)
                continue
            with contextlib.suppress(OSError):
                for sub in os.scandir(entry.path):
                    if sub.name in LINKED_DIRS and sub.is_dir(follow_symlinks=False):
                        found.append(f"{entry.name}/{sub.name}")
    return sorted(found)


SHADOW_PREFIX = "kimi-shadow-"


def sweep_orphans(parent: Path) -> list[Path]:
    """Remove shadows left by kimi-lsp processes that died without cleaning up (SIGKILL, power loss).

    In ``/dev/shm`` such leftovers hold memory until reboot. A shadow is an orphan when the pid in its
    name is no longer running; shadows of live processes (other jobs, other servers) are left alone.
    """
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(SHADOW_PREFIX) or not entry.is_dir() or entry.is_symlink():
            continue
        pid_text = name[len(SHADOW_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


class Shadow:
    """A temporary copy of a workspace. Use as a context manager or call :meth:`cleanup`.

    ``snapshot`` holds what the copy started with; :meth:`diff` is the model's work since.
    """

    def __init__(self, source: Path, root: Path, snapshot: Snapshot, linked: list[str], too_big: list[str]) -> None:
        self.source = source
        self.root = root
        self.snapshot = snapshot
        self.linked = linked
        self.too_big = too_big  # files over BIG_FILE_BYTES, left out of the copy
        self._closed = False

    @classmethod
    def create(
        cls,
        root: Path,
        overlays: Mapping[str, str] | None = None,
        *,
        files: Sequence[str] | None = None,
        base_dir: Path | None = None,
    ) -> Shadow:
        """Copy ``root`` into a new temporary folder (prefix ``kimi-shadow-``).

        ``overlays`` maps workspace-relative paths to unsaved editor text laid over the copy (new files
        allowed). ``files`` replaces the listing (relative paths); by default git's tracked and
        untracked-not-ignored files, or a walk when ``root`` is not a repository. Secret files are skipped.
        ``base_dir`` chooses where the temporary folder goes (default: see :func:`_default_base`).
        """
        source = Path(os.path.realpath(root))
        if not source.is_dir():
            raise KimiError(f"workspace root {root} is not a folder")
        listing = (
            list(files) if files is not None else (git.list_files(source) or walk(source, skip_dir=is_heavy_dir)[0])
        )
        parent = base_dir if base_dir is not None else _default_base(source, listing)
        sweep_orphans(Path(parent) if parent is not None else Path(tempfile.gettempdir()))
        # The owner's pid is in the name so a later run can tell an orphan (its process died) from a live one.
        tmp = Path(os.path.realpath(tempfile.mkdtemp(prefix=f"{SHADOW_PREFIX}{os.getpid()}-", dir=parent)))
        try:
            originals, too_big = _copy_tree(source, tmp, listing)
            linked = _link_heavy(source, tmp)
            _lay_overlays(tmp, overlays or {}, originals)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(source, tmp, Snapshot(tmp, source / ".git", originals), linked, too_big)

    def diff(self) -> ShadowDiff:
        """The model's work so far: the shadow against its snapshot."""
        return self.snapshot.diff()

    def cleanup(self) -> None:
        """Remove the temporary folder (links are removed, never followed). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Shadow:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def _default_base(source: Path, listing: Sequence[str]) -> str | None:
    """``$KIMI_SHADOW_DIR``, else ``/dev/shm`` when it is an executable tmpfs with room to spare, else the
    system temp folder. Memory-backed copies are many times faster on slow disks (see the benchmark)."""
    chosen = os.environ.get("KIMI_SHADOW_DIR")
    if chosen:
        return chosen
    shm = "/dev/shm"
    try:
        info = os.statvfs(shm)
    except OSError:
        return None
    if info.f_flag & os.ST_NOEXEC or info.f_flag & os.ST_RDONLY or not os.access(shm, os.W_OK):
        return None
    size = 0
    for rel in listing:
        with contextlib.suppress(OSError):
            size += min(os.lstat(source / rel).st_size, BIG_FILE_BYTES)
    free = info.f_bavail * info.f_frsize
    return shm if free > max(4 * size, 1 << 30) else None


def _copy_one(source: Path, dest: Path, rel: str) -> tuple[str, Original | None] | None:
    """Copy one file; ``(rel, None)`` when it is too big to copy, None when it is not a regular file."""
    src = source / rel
    dst = dest / rel
    try:
        st = src.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None  # tracked but deleted in the worktree: the shadow mirrors the worktree
    if stat.S_ISLNK(st.st_mode):
        # Recreate the link itself; paths.py refuses it later if it leads outside. Copying its target
        # would pull an outside file into the workspace.
        os.symlink(os.readlink(src), dst)
        return None
    if not stat.S_ISREG(st.st_mode):
        return None  # submodules (gitlinks), sockets, fifos
    if st.st_size > BIG_FILE_BYTES:
        return rel, None
    data = src.read_bytes()
    with open(dst, "wb") as handle:
        handle.write(data)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    return rel, Original.written(dst, data, st.st_mode)


def _copy_tree(source: Path, dest: Path, listing: Sequence[str]) -> tuple[dict[str, Original], list[str]]:
    """Copy the listed files; the snapshot of what was copied, and the files left out for their size."""
    wanted = [rel for rel in listing if is_plain_relpath(rel) and not is_secret_path(rel)]
    for folder in sorted({str(Path(rel).parent) for rel in wanted}):
        if folder != ".":
            (dest / folder).mkdir(parents=True, exist_ok=True)
    if _memory_backed(dest):
        # Into memory (tmpfs) copying is CPU work: threads only add lock traffic (measured 3x slower).
        results: Iterable[tuple[str, Original | None] | None] = (_copy_one(source, dest, rel) for rel in wanted)
        return _collect(results)
    # Onto a disk, writes block and release the GIL: a few threads keep it busy (measured 2-3x faster).
    with ThreadPoolExecutor(max_workers=_COPY_WORKERS) as pool:
        return _collect(pool.map(lambda rel: _copy_one(source, dest, rel), wanted, chunksize=32))


def _collect(results: Iterable[tuple[str, Original | None] | None]) -> tuple[dict[str, Original], list[str]]:
    snapshot: dict[str, Original] = {}
    too_big: list[str] = []
    for result in results:
        if result is None:
            continue
        rel, entry = result
        if entry is None:
            too_big.append(rel)
        else:
            snapshot[rel] = entry
    return snapshot, too_big


def _memory_backed(path: Path) -> bool:
    """True when ``path`` lies on a tmpfs/ramfs mount (by the longest matching mount point)."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    target = os.path.realpath(path)
    best, kind = "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind in ("tmpfs", "ramfs")


def _link_heavy(source: Path, dest: Path) -> list[str]:
    linked: list[str] = []
    for rel in _heavy_dirs(source):
        target = dest / rel
        if target.exists() or target.is_symlink():
            continue  # tracked content already there (unusual, but never clobber it)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source / rel, target, target_is_directory=True)
        linked.append(rel)
    return linked


def _lay_overlays(dest: Path, overlays: Mapping[str, str], snapshot: dict[str, Original]) -> None:
    for rel, text in overlays.items():
        path = resolve_in_root(dest, rel)  # refuses escapes and secrets
        relpath = path.relative_to(dest).as_posix()
        data = text.encode("utf-8")
        previous = snapshot.get(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        snapshot[relpath] = Original.written(path, data, previous.mode if previous is not None else 0o100644)
