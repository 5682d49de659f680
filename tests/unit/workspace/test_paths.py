"""Every tool path stays inside the workspace root, and secret files stay out of reach."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.paths import relpath_of, resolve_in_root


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    return root, outside


def test_relative_path_resolves_inside_root(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    path = resolve_in_root(root, "pkg/../pkg/mod.py")
    assert path == (root / "pkg" / "mod.py").resolve()
    assert relpath_of(root, path) == "pkg/mod.py"


def test_dotdot_escape_is_refused(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_in_root(root, "../outside/secret.txt")


def test_absolute_path_outside_is_refused_but_inside_is_accepted(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_in_root(root, str(outside / "secret.txt"))
    with pytest.raises(ToolError):
        resolve_in_root(root, "/etc/passwd")
    inside = resolve_in_root(root, str(root / "pkg" / "mod.py"))
    assert relpath_of(root, inside) == "pkg/mod.py"


def test_alias_root_maps_onto_the_shadow(layout: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = layout
    user_tree = tmp_path / "user-tree"
    path = resolve_in_root(root, str(user_tree / "pkg" / "mod.py"), aliases=[user_tree])
    assert path == (root / "pkg" / "mod.py").resolve()


def test_symlink_leading_outside_is_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink(outside, root / "linkdir")
    with pytest.raises(ToolError, match="symlink"):
        resolve_in_root(root, "link.txt")
    with pytest.raises(ToolError, match="symlink"):
        resolve_in_root(root, "linkdir/new_file.py")


def test_nul_byte_and_empty_path_are_refused(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    with pytest.raises(ToolError, match="NUL"):
        resolve_in_root(root, "pkg/mod.py\x00.txt")
    with pytest.raises(ToolError, match="empty"):
        resolve_in_root(root, "  ")


@pytest.mark.parametrize("name", [".env", ".env.local", "config/id_rsa", "certs/server.pem", ".aws/credentials"])
def test_secret_files_are_refused(layout: tuple[Path, Path], name: str) -> None:
    root, _ = layout
    with pytest.raises(ToolError, match="secret"):
        resolve_in_root(root, name)


def test_symlink_is_judged_by_its_target_and_by_its_own_name(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    (root / ".env").write_text("KEY=1\n")
    os.symlink(".env", root / "notes.txt")
    os.symlink("pkg/mod.py", root / ".env.local")
    with pytest.raises(ToolError, match="secret"):
        resolve_in_root(root, "notes.txt")
    with pytest.raises(ToolError, match="secret"):
        resolve_in_root(root, ".env.local")
    assert resolve_in_root(root, "notes.txt", allow_secret=True) == (root / ".env").resolve()
