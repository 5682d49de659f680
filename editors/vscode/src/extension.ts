import * as vscode from "vscode";
import { ExecuteCommandRequest, State, type LanguageClient } from "vscode-languageclient/node";
import { findApiKey, SECRET_NAME, serverEnvironment } from "./apiKey";
import { createClient } from "./client";
import { registerJobCommands, type KimiServer } from "./commands";
import { JobStatus } from "./jobStatus";
import { findServer, INSTALL_COMMAND } from "./serverPath";
import { configuredServerPath, SECTION, serverSettings } from "./settings";

/** What `activate` hands back: used by other extensions and by the tests. */
export interface KimiExtension {
  /** The running language client, if the server is up. */
  readonly client: LanguageClient | undefined;
  /** Stop the server (if running) and start it again with fresh settings and key. */
  restart(): Promise<void>;
}

/** Starts the server and registers the Kimi commands. */
export async function activate(context: vscode.ExtensionContext): Promise<KimiExtension> {
  const output = vscode.window.createOutputChannel("Kimi");
  const status = new JobStatus();
  const session = new ServerSession(context, output, status);
  context.subscriptions.push(
    output,
    status,
    session,
    ...registerJobCommands(() => session.server()),
    vscode.commands.registerCommand("kimi.showOutput", () => output.show(true)),
    vscode.commands.registerCommand("kimi.setApiKey", () => setApiKey(context.secrets, session)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // Other kimi.* changes reach the running server through workspace/didChangeConfiguration.
      if (event.affectsConfiguration(`${SECTION}.serverPath`)) {
        void session.restart();
      }
    }),
  );
  await session.start();
  return session;
}

/** Stops the server. */
export function deactivate(): Promise<void> | undefined {
  return current?.stop();
}

let current: ServerSession | undefined;

/** One language client at a time: started, stopped and restarted as settings and the key change. */
class ServerSession implements KimiExtension, vscode.Disposable {
  client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.OutputChannel,
    private readonly status: JobStatus,
  ) {
    current = this;
  }

  /** Start the server unless it runs; resolves to undefined when it cannot (the user was told). */
  start(): Promise<LanguageClient | undefined> {
    if (this.client !== undefined) {
      return Promise.resolve(this.client);
    }
    this.starting ??= this.launch().finally(() => (this.starting = undefined));
    return this.starting;
  }

  async stop(): Promise<void> {
    await this.starting;
    const client = this.client;
    this.client = undefined;
    this.status.clear();
    if (client !== undefined && client.state !== State.Stopped) {
      await client.stop();
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The running server for a command, starting it first if needed. */
  async server(): Promise<KimiServer | undefined> {
    const client = await this.start();
    if (client === undefined) {
      return undefined;
    }
    return {
      execute: (command, args) => client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }),
      converter: client.code2ProtocolConverter,
    };
  }

  dispose(): void {
    void this.stop();
  }

  private async launch(): Promise<LanguageClient | undefined> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const lookup = findServer(configuredServerPath(config), process.env);
    if ("missing" in lookup) {
      this.output.appendLine(`kimi-lsp not found: ${lookup.missing}. Install it with: ${INSTALL_COMMAND}`);
      void showMissingServer(lookup.missing);
      return undefined;
    }
    const key = await findApiKey(this.context.secrets, process.env);
    const settings = serverSettings(config);
    // Name where the key came from, never the key.
    this.output.appendLine(
      `Starting ${lookup.path} (API key: ${key ? `from ${key.source}` : "none"}; settings: ${JSON.stringify(settings)})`,
    );
    if (key === undefined && settings.baseUrl === undefined) {
      void warnNoKey();
    }
    const client = createClient({
      serverPath: lookup.path,
      env: serverEnvironment(process.env, key),
      settings,
      settingsFor: (scopeUri) =>
        serverSettings(vscode.workspace.getConfiguration(SECTION, scopeUri ? vscode.Uri.parse(scopeUri) : undefined)),
      outputChannel: this.output,
      onProgress: (token, value) => this.status.update(token, value),
    });
    client.onDidChangeState((event) => {
      if (event.newState === State.Stopped) {
        this.status.clear();
      }
    });
    try {
      await client.start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.output.appendLine(`kimi-lsp failed to start: ${message}`);
      void vscode.window.showErrorMessage(`Kimi: the kimi-lsp server failed to start: ${message}`, "Show Output").then(
        (choice) => choice && this.output.show(true),
      );
      return undefined;
    }
    this.client = client;
    return client;
  }
}

async function showMissingServer(missing: string): Promise<void> {
  const openSettings = "Open Settings";
  const copy = "Copy Install Command";
  const choice = await vscode.window.showErrorMessage(
    `Kimi: the kimi-lsp language server was not found (${missing}). Install it with \`${INSTALL_COMMAND}\`, or set kimi.serverPath.`,
    openSettings,
    copy,
  );
  if (choice === openSettings) {
    await vscode.commands.executeCommand("workbench.action.openSettings", `${SECTION}.serverPath`);
  } else if (choice === copy) {
    await vscode.env.clipboard.writeText(INSTALL_COMMAND);
  }
}

async function warnNoKey(): Promise<void> {
  const set = "Set API Key";
  const choice = await vscode.window.showWarningMessage(
    "Kimi: no API key. Set KIMI_API_KEY (or MOONSHOT_API_KEY) before starting VS Code, or store one now.",
    set,
  );
  if (choice === set) {
    await vscode.commands.executeCommand("kimi.setApiKey");
  }
}

/** "Kimi: Set API key": keep the key in SecretStorage (an empty entry removes it), then restart. */
async function setApiKey(secrets: vscode.SecretStorage, session: ServerSession): Promise<void> {
  const value = await vscode.window.showInputBox({
    title: "Kimi: Set API key",
    prompt: "Moonshot (or OpenAI-compatible) API key, kept in the editor's secret storage. Leave empty to remove it.",
    password: true,
    ignoreFocusOut: true,
  });
  if (value === undefined) {
    return;
  }
  const key = value.trim();
  if (key) {
    await secrets.store(SECRET_NAME, key);
  } else {
    await secrets.delete(SECRET_NAME);
  }
  await session.restart();
  void vscode.window.showInformationMessage(key ? "Kimi: API key stored." : "Kimi: stored API key removed.");
}
