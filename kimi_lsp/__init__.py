"""kimi-lsp: Kimi K2 Thinking in the editor, with verified fixes."""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _keep_the_workspace_off_the_import_path() -> None:
    """When kimi-lsp runs as a program, drop import paths inside the working directory.

    The working directory is usually a project we are about to work on, not code we trust: ``python -m`` puts
    it first on the path, and so does an empty ``PYTHONPATH`` entry (``export PYTHONPATH=$PYTHONPATH:/x`` with
    PYTHONPATH unset). This runs before anything else of ours is imported. The interpreter's own folders (a
    project's ``.venv`` kimi-lsp is installed in) stay.
    """
    try:
        cwd = _os.path.realpath(_os.getcwd())
    except OSError:
        return
    own = tuple(_os.path.realpath(prefix) + _os.sep for prefix in {_sys.prefix, _sys.exec_prefix})

    def inside_cwd(entry: str) -> bool:
        real = _os.path.realpath(entry or ".") + _os.sep
        return real.startswith(cwd.rstrip(_os.sep) + _os.sep) and not real.startswith(own)

    _sys.path[:] = [entry for entry in _sys.path if entry and not inside_cwd(entry)]


# As a program: the console script, or `python -m kimi_lsp` (argv[0] is "-m" while the package is imported).
if _os.path.basename(_sys.argv[0] if _sys.argv else "") in ("kimi-lsp", "-m"):
    _keep_the_workspace_off_the_import_path()
