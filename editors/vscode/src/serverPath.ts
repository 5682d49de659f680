import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The server executable looked up on PATH when `kimi.serverPath` is empty. */
export const DEFAULT_SERVER = "kimi-lsp";

/** The command that installs the server, shown when it cannot be found. */
export const INSTALL_COMMAND = "pip install kimi-lsp";

/** The outcome of looking for the server: its path, or a sentence saying what was looked for. */
export type ServerLookup = { readonly path: string } | { readonly missing: string };

/**
 * Find the server executable: `configured` when it names a path (`~` expanded), a bare name (or the
 * default `kimi-lsp`) on PATH otherwise.
 */
export function findServer(
  configured: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): ServerLookup {
  const wanted = configured || DEFAULT_SERVER;
  if (wanted.includes("/") || wanted.includes("\\")) {
    const expanded = wanted.startsWith("~") ? path.join(os.homedir(), wanted.slice(1)) : wanted;
    return isExecutable(expanded, platform)
      ? { path: expanded }
      : { missing: `"${expanded}" (kimi.serverPath) is not an executable file` };
  }
  const found = onPath(wanted, env, platform);
  return found !== undefined ? { path: found } : { missing: `"${wanted}" is not on PATH` };
}

function onPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  const delimiter = platform === "win32" ? ";" : ":";
  // Windows finds `kimi-lsp.exe` (what pip installs) for `kimi-lsp`; elsewhere the name is exact.
  const extensions =
    platform === "win32" ? ["", ...(env.PATHEXT ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean)] : [""];
  const pathVar = env.PATH ?? env.Path ?? "";
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) {
      continue;
    }
    for (const ext of extensions) {
      const candidate = path.join(dir, name + ext);
      if (isExecutable(candidate, platform)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function isExecutable(file: string, platform: NodeJS.Platform): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    fs.accessSync(file, platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
