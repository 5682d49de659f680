import os
import sys

# `python -m kimi_lsp` puts the working directory first on the import path. That directory is usually a
# project we are about to work on, not code we trust: drop it before anything else is imported.
if not sys.flags.safe_path and sys.path and os.path.abspath(sys.path[0] or ".") == os.getcwd():
    del sys.path[0]

from kimi_lsp.cli import main

raise SystemExit(main())
