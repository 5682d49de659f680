"""File URIs as editors spell them.

Editors escape different characters (Neovim leaves ``+ ( ) , = @`` alone, Python's ``as_uri`` escapes them),
so a document is identified by its normalized path, never by comparing URI strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse


def uri_to_path(uri: str | None) -> Path | None:
    """The normalized absolute path of a ``file:`` URI, or None for any other scheme."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(os.path.normpath(unquote(parsed.path)))
