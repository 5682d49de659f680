import type * as vscode from "vscode";

/** The SecretStorage key under which "Kimi: Set API key" stores the key. */
export const SECRET_NAME = "kimi.apiKey";

/** Where the API key was found; safe to log, unlike the key. */
export type KeySource = "secret storage" | "KIMI_API_KEY" | "MOONSHOT_API_KEY";

/** An API key and where it came from. */
export interface ApiKey {
  readonly value: string;
  readonly source: KeySource;
}

/**
 * The API key for the server: the one stored with "Kimi: Set API key" wins (it is the user's
 * explicit choice in this editor), then `KIMI_API_KEY`, then `MOONSHOT_API_KEY` from the environment.
 */
export async function findApiKey(
  secrets: Pick<vscode.SecretStorage, "get">,
  env: NodeJS.ProcessEnv,
): Promise<ApiKey | undefined> {
  const stored = (await secrets.get(SECRET_NAME))?.trim();
  if (stored) {
    return { value: stored, source: "secret storage" };
  }
  for (const name of ["KIMI_API_KEY", "MOONSHOT_API_KEY"] as const) {
    const value = env[name]?.trim();
    if (value) {
      return { value, source: name };
    }
  }
  return undefined;
}

/** The server process environment: the editor's environment with the key as `KIMI_API_KEY`. */
export function serverEnvironment(base: NodeJS.ProcessEnv, key: ApiKey | undefined): NodeJS.ProcessEnv {
  const env = { ...base };
  if (key !== undefined) {
    env.KIMI_API_KEY = key.value;
  }
  return env;
}
