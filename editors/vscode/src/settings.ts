import type * as vscode from "vscode";

/** The configuration section the extension contributes and the server reads. */
export const SECTION = "kimi";

/** The settings the server understands (DESIGN.md, "LSP contract"), without the `kimi.` prefix. */
export const SERVER_KEYS = [
  "baseUrl",
  "model",
  "testCommand",
  "maxSteps",
  "contextBudget",
  "applyMode",
  "temperature",
  "topP",
  "maxTokens",
  "runTestsOnSave",
  "sandbox",
  "testNetwork",
] as const;

/** A server setting key. */
export type ServerKey = (typeof SERVER_KEYS)[number];

/** The settings object sent as `initializationOptions` and as the `kimi` configuration section. */
export type ServerSettings = Partial<Record<ServerKey, unknown>>;

// Where code and the API key are sent must come from the user, never from a file inside the
// workspace (DESIGN.md, "Shadow workspace and safety"); a cloned repository must not redirect it, make
// kimi-lsp run tests on its own, or loosen the tests' sandbox. The server applies the same rule to
// workspace files; a repository's .vscode/settings.json is one more such file.
const USER_ONLY_KEYS: ReadonlySet<ServerKey> = new Set(["baseUrl", "model", "runTestsOnSave", "sandbox", "testNetwork"]);
// Limits a workspace may lower, never raise (the user's value, else the default, is the ceiling).
const CAPPED_KEYS: ReadonlySet<ServerKey> = new Set(["maxSteps", "contextBudget", "maxTokens"]);

/**
 * The server settings the user has actually set, keyed without the `kimi.` prefix.
 *
 * Defaults are left out on purpose: the server owns them, and sending the extension's copy would
 * freeze them. `serverPath` and `trace.server` concern the client only and are never sent.
 */
export function serverSettings(config: Pick<vscode.WorkspaceConfiguration, "inspect">): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_KEYS) {
    const info = config.inspect(key);
    if (info === undefined) {
      continue;
    }
    const fromWorkspace = info.workspaceFolderValue ?? info.workspaceValue;
    let value = USER_ONLY_KEYS.has(key) ? info.globalValue : (fromWorkspace ?? info.globalValue);
    if (CAPPED_KEYS.has(key) && fromWorkspace !== undefined) {
      const ceiling = info.globalValue ?? info.defaultValue;
      const lowers = typeof fromWorkspace === "number" && typeof ceiling === "number" && fromWorkspace <= ceiling;
      value = lowers ? fromWorkspace : info.globalValue;
    }
    if (value !== undefined) {
      settings[key] = value;
    }
  }
  return settings;
}

/** The user's `kimi.serverPath`, ignoring any value a workspace tries to set. */
export function configuredServerPath(config: Pick<vscode.WorkspaceConfiguration, "inspect">): string {
  const value = config.inspect<string>("serverPath")?.globalValue;
  return typeof value === "string" ? value.trim() : "";
}
