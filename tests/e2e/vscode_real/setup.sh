#!/usr/bin/env bash
# The real VS Code the suite drives: code-server 4.100.3 (VS Code 1.100.3, the last release that runs on
# Node 20), installed from the npm registry into a cache folder, plus playwright (python) in the active venv
# to drive its workbench through the system's Chromium. Does nothing for what is already there.
#
# Usage: tests/e2e/vscode_real/setup.sh [DIR]     (default: $KIMI_VSCODE_HOST or ~/.cache/kimi-lsp/vscode-host)
# Needs: node 20 + npm, a C toolchain and these Debian packages (native modules are rebuilt):
#   libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config chromium ripgrep
set -euo pipefail
DIR=${1:-${KIMI_VSCODE_HOST:-$HOME/.cache/kimi-lsp/vscode-host}}
VERSION=4.100.3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

if [ ! -f "$DIR/cs/.installed-$VERSION" ]; then
  echo "installing code-server $VERSION into $DIR/cs (a few minutes)"
  mkdir -p "$DIR/cs" && cd "$DIR/cs"
  [ -f package.json ] || echo '{"name":"cs","private":true}' > package.json
  # --ignore-scripts: the postinstall would download ripgrep from outside the registry; its other steps follow
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error "code-server@$VERSION"
  npm rebuild argon2 >/dev/null
  cd node_modules/code-server/lib/vscode
  npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
  # node-pty's own postinstall fails after pty.node is built (it calls npx node-gyp); the module loads anyway
  npm rebuild kerberos @parcel/watcher @vscode/deviceid @vscode/spdlog native-watchdog node-pty >/dev/null 2>&1 || true
  node -e "for (const m of ['@parcel/watcher','node-pty','@vscode/spdlog','native-watchdog','kerberos']) require(m)"
  mkdir -p node_modules/@vscode/ripgrep/bin && ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
  rm -rf node_modules.asar && ln -s node_modules node_modules.asar
  (cd bin/remote-cli && ln -sfn code-linux.sh code-server)
  (cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
  (cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  XDG_CONFIG_HOME="$DIR/xdg/config" XDG_DATA_HOME="$DIR/xdg/data" "$DIR/cs/node_modules/.bin/code-server" --version
  touch "$DIR/cs/.installed-$VERSION"
fi

python -c "import playwright" 2>/dev/null || python -m pip install --quiet playwright
[ -d "$repo/editors/vscode/node_modules" ] || (cd "$repo/editors/vscode" && npm ci --no-audit --no-fund --loglevel=error)
echo "ready: $DIR/cs/node_modules/.bin/code-server"
