/** Shared set-up: the extension activated against the stand-in editor and a real fake server. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as vscode from "vscode";
import { activate, deactivate, type KimiExtension } from "../src/extension";
import { EventEmitter, stub } from "./stub/vscode";

const FAKE_SERVER = path.join(__dirname, "fixtures", "fakeServer.js");
const ENV_NAMES = ["PATH", "KIMI_API_KEY", "MOONSHOT_API_KEY"] as const;

/** SecretStorage kept in memory. */
export class MemorySecrets {
  readonly values = new Map<string, string>();
  private readonly changes = new EventEmitter<{ key: string }>();
  readonly onDidChange = this.changes.event;
  async get(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    this.changes.fire({ key });
  }
  async delete(key: string): Promise<void> {
    this.values.delete(key);
    this.changes.fire({ key });
  }
}

/** What the fake server recorded, as it answers `fake/seen`. */
export interface Seen {
  argv: string[];
  /** The server process id (the `kimi-lsp` script execs it). */
  pid: number;
  /** SHA-256 of the server's KIMI_API_KEY, or null when it has none. */
  apiKeySha256: string | null;
  initializationOptions: unknown;
  commands: { command: string; arguments?: unknown[] }[];
  configurationChanges: unknown[];
  cancelled: unknown[];
}

/** The digest the fake server reports for `key`. */
export function sha256(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** A running extension and its surroundings. */
export interface Session {
  readonly api: KimiExtension;
  readonly secrets: MemorySecrets;
  /** A folder holding an executable `kimi-lsp` that runs the fake server. */
  readonly binDir: string;
  output(): string;
  seen(): Promise<Seen>;
  run(command: string, ...args: unknown[]): Promise<unknown>;
}

/** A temporary folder with an executable `kimi-lsp` script that starts the fake server. */
export function makeServerBin(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kimi-vscode-test-"));
  const script = path.join(dir, "kimi-lsp");
  fs.writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${FAKE_SERVER}" "$@"\n`, { mode: 0o755 });
  return dir;
}

interface Options {
  /** The PATH the extension sees; default: the fake server folder only. */
  path?: (binDir: string) => string;
  env?: Partial<Record<"KIMI_API_KEY" | "MOONSHOT_API_KEY", string>>;
  secrets?: Record<string, string>;
  /** Settings by full key, e.g. `{"kimi.model": {globalValue: "m"}}`. */
  settings?: Record<
    string,
    { defaultValue?: unknown; globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown }
  >;
}

const saved = new Map<string, string | undefined>();
const binDirs: string[] = [];

/**
 * Activate the extension. The process environment is replaced for the test (no real API key can
 * reach the fake server) and put back by `stopExtension`, which also resets the stand-in editor
 * (answers queued in `stub` before this call are kept).
 */
export async function startExtension(options: Options = {}): Promise<Session> {
  const binDir = makeServerBin();
  binDirs.push(binDir);
  for (const name of ENV_NAMES) {
    saved.set(name, process.env[name]);
    delete process.env[name];
  }
  process.env.PATH = options.path ? options.path(binDir) : binDir;
  Object.assign(process.env, options.env ?? {});
  for (const [key, values] of Object.entries(options.settings ?? {})) {
    stub.settings.set(key, values);
  }
  const secrets = new MemorySecrets();
  for (const [key, value] of Object.entries(options.secrets ?? {})) {
    secrets.values.set(key, value);
  }
  const context = { subscriptions: [] as { dispose(): unknown }[], secrets };
  contexts.push(context);
  const api = await activate(context as unknown as vscode.ExtensionContext);
  return {
    api,
    secrets,
    binDir,
    output: () => stub.outputChannels.map((c) => c.text).join(""),
    seen: async () => {
      if (api.client === undefined) {
        throw new Error("the server is not running");
      }
      return (await api.client.sendRequest("fake/seen")) as Seen;
    },
    run: async (command, ...args) => {
      const handler = stub.commands.get(command);
      if (handler === undefined) {
        throw new Error(`command ${command} is not registered`);
      }
      return handler(...args);
    },
  };
}

const contexts: { subscriptions: { dispose(): unknown }[] }[] = [];

/** Stop the server, drop registrations and restore the environment. */
export async function stopExtension(): Promise<void> {
  // VS Code's order: deactivate() is called, the subscriptions are disposed at once, and only then is the
  // promise deactivate() returned awaited.
  const stopping = deactivate();
  for (const context of contexts.splice(0)) {
    context.subscriptions.forEach((s) => s.dispose());
  }
  await stopping;
  for (const [name, value] of saved) {
    if (value === undefined) {
      delete process.env[name];
    } else {
      process.env[name] = value;
    }
  }
  saved.clear();
  stub.reset();
  for (const dir of binDirs.splice(0)) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Poll `condition` until it holds, failing after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Poll the async `probe` until it yields a value other than undefined, failing after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
