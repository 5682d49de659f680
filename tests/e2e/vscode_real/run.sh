#!/usr/bin/env bash
# The real-VS Code suite in one command: install the host if missing (setup.sh), then run it.
# Extra arguments go to pytest, e.g. `tests/e2e/vscode_real/run.sh -k preview`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
"$here/setup.sh"
KIMI_VSCODE_REAL=1 exec python -m pytest tests/e2e/vscode_real "$@"
