import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  State,
  WorkDoneProgressCancelNotification,
  type LanguageClient,
  type ProgressToken,
} from "vscode-languageclient/node";
import { findApiKey, SECRET_NAME, serverEnvironment } from "./apiKey";
import { createClient } from "./client";
import { JOB_COMMANDS, registerForwardedCommand, registerJobCommands, type KimiServer } from "./commands";
import { CANCEL_JOB_COMMAND, JobStatus } from "./jobStatus";
import { closableOutput, type ClosableOutput } from "./output";
import { Reviews } from "./review";
import { findServer, INSTALL_COMMAND } from "./serverPath";
import { configuredServerPath, SECTION, serverSettings } from "./settings";

/** What `activate` hands back: used by other extensions and by the tests. */
export interface KimiExtension {
  /** The running language client, if the server is up. */
  readonly client: LanguageClient | undefined;
  /** Stop the server (if running) and start it again with fresh settings and key. */
  restart(): Promise<void>;
}

/**
 * Starts the server and registers the Kimi commands. In Restricted Mode (an untrusted workspace) nothing
 * starts: Kimi would run the workspace's tests and read its settings. The commands say so until the user
 * trusts the workspace, and then Kimi starts.
 */
export async function activate(context: vscode.ExtensionContext): Promise<KimiExtension> {
  const api: KimiExtension = {
    get client() {
      return current?.client;
    },
    restart: () => current?.restart() ?? Promise.resolve(),
  };
  if (vscode.workspace.isTrusted) {
    await startSession(context);
    return api;
  }
  const restricted = restrictedMode();
  context.subscriptions.push(
    restricted,
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      restricted.dispose();
      void startSession(context);
    }),
  );
  return api;
}

async function startSession(context: vscode.ExtensionContext): Promise<void> {
  // The output channel, the status items and the review documents outlive the subscriptions, which VS Code
  // disposes while deactivate() still stops the client (and the client still logs): deactivate disposes them.
  const output = vscode.window.createOutputChannel("Kimi");
  const status = new JobStatus();
  const reviews = new Reviews();
  const session = new ServerSession(context, output, status, reviews);
  context.subscriptions.push(
    ...registerJobCommands(() => session.server(), () => session.runningServer()),
    vscode.commands.registerCommand(CANCEL_JOB_COMMAND, (token: ProgressToken) => session.cancelJob(token)),
    vscode.commands.registerCommand("kimi.showOutput", () => output.show(true)),
    vscode.commands.registerCommand("kimi.setApiKey", () => setApiKey(context.secrets, session)),
    vscode.commands.registerCommand(RESTART_COMMAND, () => session.restart()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // Other kimi.* changes reach the running server through workspace/didChangeConfiguration.
      if (event.affectsConfiguration(`${SECTION}.serverPath`)) {
        void session.restart();
      }
    }),
    // A key stored or removed in another window changes this window's secret storage too; the
    // server only reads its key at start.
    context.secrets.onDidChange((event) => {
      if (event.key === SECRET_NAME) {
        void session.useCurrentKey();
      }
    }),
  );
  await session.start();
}

/** "Kimi: Restart server": a fresh server with fresh settings and key, e.g. after it crashed too often. */
export const RESTART_COMMAND = "kimi.restart";

/** What every Kimi command and the status bar say in Restricted Mode. */
export const RESTRICTED_MESSAGE =
  "Kimi is off in Restricted Mode: it would run this workspace's tests and read its settings. Trust the workspace to use it.";

/** Commands that explain Restricted Mode, and a status-bar item saying Kimi is off. */
function restrictedMode(): vscode.Disposable {
  const explain = async () => {
    const manage = "Manage Workspace Trust";
    if ((await vscode.window.showWarningMessage(RESTRICTED_MESSAGE, manage)) === manage) {
      await vscode.commands.executeCommand("workbench.trust.manage");
    }
  };
  const item = vscode.window.createStatusBarItem("kimi.restricted", vscode.StatusBarAlignment.Left, 0);
  item.name = "Kimi (Restricted Mode)";
  item.text = "$(shield) Kimi: off in Restricted Mode";
  item.tooltip = RESTRICTED_MESSAGE;
  item.command = "workbench.trust.manage";
  item.show();
  const commands = [...JOB_COMMANDS, "kimi.showOutput", "kimi.setApiKey", RESTART_COMMAND].map((command) =>
    vscode.commands.registerCommand(command, explain),
  );
  return vscode.Disposable.from(item, ...commands);
}

/** Stops the server, then closes what it still writes to. */
export async function deactivate(): Promise<void> {
  const session = current;
  current = undefined;
  await session?.close();
}

let current: ServerSession | undefined;

/** One language client at a time: started, stopped and restarted as settings and the key change. */
class ServerSession implements KimiExtension {
  client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  /** The API key the current client's server was started with. */
  private clientKey: string | undefined;
  /** Key checks run one after another, so one key change restarts the server once. */
  private keyCheck: Promise<void> = Promise.resolve();
  /** Commands registered in the editor: the extension's own, then those forwarded to the server. */
  private readonly registered = new Set<string>(JOB_COMMANDS);
  /** What the language client writes to: closed before the channel is disposed. */
  private readonly clientOutput: ClosableOutput;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.OutputChannel,
    private readonly status: JobStatus,
    private readonly reviews: Reviews,
  ) {
    current = this;
    this.clientOutput = closableOutput(output);
  }

  /** Start the server unless it runs; resolves to undefined when it cannot (the user was told). */
  start(): Promise<LanguageClient | undefined> {
    if (this.client?.state === State.Stopped) {
      // The client gave up (it restarts a crashing server only so often) or was stopped: a
      // stopped client never comes back by itself, so the next command gets a new one.
      this.output.appendLine("kimi-lsp is not running; starting it again.");
      const stopped = this.client;
      this.client = undefined;
      void stopped.dispose().catch(() => undefined);
    }
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
    if (client === undefined) {
      return;
    }
    if (client.state === State.Starting) {
      // Restarting after a crash: a client cannot be stopped half-way up.
      await client.start().catch(() => undefined);
    }
    await client.dispose().catch((error: unknown) => {
      this.output.appendLine(`Stopping kimi-lsp failed: ${String(error)}`);
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Restart the server if the API key found now is not the one it was started with. */
  useCurrentKey(): Promise<void> {
    this.keyCheck = this.keyCheck.then(async () => {
      await this.starting;
      if (this.client === undefined) {
        return; // Not running: the next start reads the key.
      }
      const key = await findApiKey(this.context.secrets, process.env);
      if (key?.value !== this.clientKey) {
        await this.restart();
      }
    }).catch((error: unknown) => {
      // Keep the chain usable for the next change.
      this.output.appendLine(`Restarting kimi-lsp for the new API key failed: ${String(error)}`);
    });
    return this.keyCheck;
  }

  /** The running server for a command, starting it first if needed. */
  async server(): Promise<KimiServer | undefined> {
    const client = await this.start();
    return client === undefined ? undefined : kimiServer(client);
  }

  /** The server only if it runs now; a stale status-bar item is hidden when it does not. */
  runningServer(): KimiServer | undefined {
    if (this.client?.state === State.Running) {
      return kimiServer(this.client);
    }
    this.status.clear();
    return undefined;
  }

  /** Stop the server, then dispose the output channel, the status items and open reviews. */
  async close(): Promise<void> {
    await this.stop();
    this.reviews.dispose();
    this.status.dispose();
    this.clientOutput.close();
    this.output.dispose();
  }

  /** Cancel one job (a click on its status-bar item). */
  cancelJob(token: ProgressToken): void {
    const client = this.client;
    if (client?.state === State.Running) {
      this.status.cancelling(token);
      void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
    } else {
      this.status.clear();
    }
  }

  /**
   * The stock feature that turns the server's commands into editor commands is left out (see
   * client.ts); the server's other commands, such as the `kimi.apply` of a preview code action,
   * are forwarded here, and stay registered across restarts.
   */
  private forwardServerCommands(client: LanguageClient): void {
    for (const command of client.initializeResult?.capabilities.executeCommandProvider?.commands ?? []) {
      if (!this.registered.has(command)) {
        this.registered.add(command);
        this.context.subscriptions.push(registerForwardedCommand(command, () => this.server()));
      }
    }
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
      outputChannel: this.clientOutput,
      onProgress: (token, value) => this.status.update(token, value),
      applyEdit: (converter, params) => this.reviews.applyEdit(converter, params),
    });
    client.onDidChangeState((event) => {
      if (event.oldState !== State.Running || event.newState === State.Running) {
        return;
      }
      // The server's jobs die with it: their items must not stay. A stop we asked for has already
      // unset this.client and needs no word; a crash does (the client restarts the server by itself).
      const lost = this.status.clear();
      if (lost > 0 && this.client === client) {
        const message = `Kimi: the kimi-lsp server stopped unexpectedly; ${lost === 1 ? "its running job was" : `${lost} running jobs were`} lost and nothing was applied. It restarts by itself: run the command again.`;
        this.output.appendLine(message);
        void vscode.window.showErrorMessage(message, "Show Output").then((choice) => choice && this.output.show(true));
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
    this.clientKey = key?.value;
    this.forwardServerCommands(client);
    return client;
  }
}

function kimiServer(client: LanguageClient): KimiServer {
  return {
    execute: (command, args) => client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }),
    converter: client.code2ProtocolConverter,
  };
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
  // The secret storage change event may have restarted the server already; this restarts it at
  // most once, whichever comes first.
  await session.useCurrentKey();
  void vscode.window.showInformationMessage(key ? "Kimi: API key stored." : "Kimi: stored API key removed.");
}
