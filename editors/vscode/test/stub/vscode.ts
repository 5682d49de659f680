/**
 * A stand-in for the `vscode` module, enough of it to run the extension and the real
 * vscode-languageclient under plain Node. Behaviour the tests watch (commands, messages, input
 * boxes, status-bar items, output, settings, diagnostics) is recorded in `stub`; the rest of the
 * editor API answers with inert values.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { URL, pathToFileURL, fileURLToPath } from "node:url";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Listener<T> = (value: T) => unknown;

export class Disposable {
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  constructor(private readonly onDispose: () => unknown = () => undefined) {}
  dispose(): void {
    this.onDispose();
  }
}

export class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(value: T): void {
    [...this.listeners].forEach((l) => l(value));
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class CancellationError extends Error {}

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    private readonly text: string,
  ) {}
  static file(fsPath: string): Uri {
    return new Uri("file", fsPath, pathToFileURL(fsPath).toString());
  }
  static parse(text: string): Uri {
    const url = new URL(text);
    return new Uri(url.protocol.replace(/:$/, ""), decodeURIComponent(url.pathname), text);
  }
  get fsPath(): string {
    return this.scheme === "file" ? fileURLToPath(this.text) : this.path;
  }
  toString(): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  isBefore(other: Position): boolean {
    return this.line < other.line || (this.line === other.line && this.character < other.character);
  }
  isAfter(other: Position): boolean {
    return other.isBefore(this);
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    const start = typeof a === "number" ? new Position(a, b as number) : a;
    const end = typeof a === "number" ? new Position(c as number, d as number) : (b as Position);
    [this.start, this.end] = end.isBefore(start) ? [end, start] : [start, end];
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
  contains(p: Position | Range): boolean {
    if (p instanceof Range) {
      return this.contains(p.start) && this.contains(p.end);
    }
    return !p.isBefore(this.start) && !p.isAfter(this.end);
  }
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor, active);
  }
}

export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}

export enum DiagnosticTag {
  Unnecessary = 1,
  Deprecated = 2,
}

export class Diagnostic {
  source?: string;
  code?: string | number;
  tags?: DiagnosticTag[];
  relatedInformation?: unknown[];
  constructor(
    public range: Range,
    public message: string,
    public severity: DiagnosticSeverity = DiagnosticSeverity.Error,
  ) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

/** A status-bar item whose visibility the tests can read. */
export class StatusBarItem {
  text = "";
  tooltip: string | undefined;
  command: string | { command: string; arguments?: unknown[] } | undefined;
  name: string | undefined;
  visible = false;
  disposed = false;
  constructor(readonly id: string) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.visible = false;
    this.disposed = true;
  }
}

/** Output channel text, kept so tests can check what was (and was not) logged. */
export class OutputChannel {
  text = "";
  shown = false;
  constructor(readonly name: string) {}
  append(value: string): void {
    this.check();
    this.text += value;
  }
  appendLine(value: string): void {
    this.check();
    this.text += value + "\n";
  }
  replace(value: string): void {
    this.text = value;
  }
  clear(): void {
    this.text = "";
  }
  show(): void {
    this.shown = true;
  }
  hide(): void {
    this.shown = false;
  }
  disposed = false;
  /** Written to after dispose: what VS Code answers with "Channel has been closed". */
  writesAfterDispose = 0;
  dispose(): void {
    this.disposed = true;
  }
  private check(): void {
    if (this.disposed) {
      this.writesAfterDispose += 1;
      throw new Error("Channel has been closed");
    }
  }
}

interface Message {
  readonly level: "error" | "warning" | "information";
  readonly text: string;
  readonly items: string[];
}

interface SettingValues {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

const manifest = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "..", "..", "package.json"), "utf8"),
) as { contributes: { configuration: { properties: Record<string, { default?: unknown }> } } };

/** Recorded editor state; `reset()` between tests. */
export const stub = {
  commands: new Map<string, (...args: any[]) => unknown>(),
  /** Built-in commands the extension ran, e.g. opening the settings UI. */
  executed: [] as { command: string; args: unknown[] }[],
  messages: [] as Message[],
  /** Answers the next message boxes pick (undefined = dismissed). */
  messageAnswers: [] as (string | undefined)[],
  /** Answers the next input boxes return (undefined = cancelled). */
  inputAnswers: [] as (string | undefined)[],
  inputBoxes: [] as Record<string, unknown>[],
  statusBarItems: [] as StatusBarItem[],
  /** Titles of the progress VS Code was asked to show (the language client's own progress). */
  progress: [] as string[],
  outputChannels: [] as OutputChannel[],
  settings: new Map<string, SettingValues>(),
  diagnostics: new Map<string, Diagnostic[]>(),
  configurationEvents: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  trustEvents: new EventEmitter<void>(),
  clipboard: "",
  reset(): void {
    this.commands.clear();
    this.executed = [];
    this.messages = [];
    this.messageAnswers = [];
    this.inputAnswers = [];
    this.inputBoxes = [];
    this.statusBarItems = [];
    this.progress = [];
    this.outputChannels = [];
    this.settings.clear();
    this.diagnostics.clear();
    this.configurationEvents = new EventEmitter();
    this.trustEvents = new EventEmitter();
    workspace.isTrusted = true;
    this.clipboard = "";
    window.activeTextEditor = undefined;
    workspace.workspaceFolders = undefined;
  },
};

function message(level: Message["level"]) {
  return async (text: string, ...rest: unknown[]): Promise<string | undefined> => {
    const items = rest.filter((r): r is string => typeof r === "string");
    stub.messages.push({ level, text, items });
    return stub.messageAnswers.shift();
  };
}

const noEvent = (): Disposable => new Disposable();

/** `{model: …, trace: {server: …}}` for "kimi": every contributed or set key under `section`. */
function sectionObject(section: string): Record<string, unknown> | undefined {
  const prefix = `${section}.`;
  const keys = new Set([...Object.keys(manifest.contributes.configuration.properties), ...stub.settings.keys()]);
  let result: Record<string, unknown> | undefined;
  for (const key of [...keys].filter((k) => k.startsWith(prefix))) {
    const path = key.slice(prefix.length).split(".");
    result ??= {};
    let node = result;
    for (const part of path.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[path.at(-1)!] = workspace.getConfiguration(section).get(key.slice(prefix.length));
  }
  return result;
}

export const window: any = {
  activeTextEditor: undefined,
  visibleTextEditors: [],
  tabGroups: { all: [], onDidChangeTabs: noEvent, onDidChangeTabGroups: noEvent },
  onDidChangeActiveTextEditor: noEvent,
  onDidChangeVisibleTextEditors: noEvent,
  showErrorMessage: message("error"),
  showWarningMessage: message("warning"),
  showInformationMessage: message("information"),
  showInputBox: async (options: Record<string, unknown>) => {
    stub.inputBoxes.push(options);
    return stub.inputAnswers.shift();
  },
  createOutputChannel: (name: string) => {
    const channel = new OutputChannel(name);
    stub.outputChannels.push(channel);
    return channel;
  },
  createStatusBarItem: (id: string) => {
    const item = new StatusBarItem(id);
    stub.statusBarItems.push(item);
    return item;
  },
  withProgress: async (options: { title?: string }, task: (progress: unknown, token: unknown) => Promise<unknown>) => {
    stub.progress.push(options.title ?? "");
    return task({ report: () => undefined }, new CancellationTokenSource().token);
  },
  showTextDocument: async () => undefined,
};

export const workspace: any = {
  workspaceFolders: undefined,
  textDocuments: [],
  notebookDocuments: [],
  getConfiguration: (section?: string) => {
    const full = (key: string) => (section ? `${section}.${key}` : key);
    const defaults = manifest.contributes.configuration.properties;
    const inspect = (key: string) => ({ key: full(key), defaultValue: defaults[full(key)]?.default, ...stub.settings.get(full(key)) });
    return {
      inspect,
      has: (key: string) => full(key) in defaults || stub.settings.has(full(key)),
      get: (key: string, fallback?: unknown) => {
        const i = inspect(key);
        const value = i.workspaceFolderValue ?? i.workspaceValue ?? i.globalValue ?? i.defaultValue;
        // Like VS Code, a key that names a section answers the whole merged section, defaults included.
        return value ?? sectionObject(full(key)) ?? fallback;
      },
      update: async () => undefined,
    };
  },
  isTrusted: true,
  onDidGrantWorkspaceTrust: (listener: Listener<void>) => stub.trustEvents.event(listener),
  registerTextDocumentContentProvider: () => new Disposable(() => undefined),
  onDidChangeConfiguration: (listener: Listener<any>) => stub.configurationEvents.event(listener),
  onDidOpenTextDocument: noEvent,
  onDidCloseTextDocument: noEvent,
  onDidChangeTextDocument: noEvent,
  onDidSaveTextDocument: noEvent,
  onWillSaveTextDocument: noEvent,
  onDidChangeWorkspaceFolders: noEvent,
  onDidCreateFiles: noEvent,
  onDidRenameFiles: noEvent,
  onDidDeleteFiles: noEvent,
  onWillCreateFiles: noEvent,
  onWillRenameFiles: noEvent,
  onWillDeleteFiles: noEvent,
  onDidOpenNotebookDocument: noEvent,
  onDidCloseNotebookDocument: noEvent,
  onDidChangeNotebookDocument: noEvent,
  onDidSaveNotebookDocument: noEvent,
  createFileSystemWatcher: () => ({
    onDidCreate: noEvent,
    onDidChange: noEvent,
    onDidDelete: noEvent,
    dispose: () => undefined,
  }),
  applyEdit: async () => true,
};

export const commands: any = {
  registerCommand: (command: string, handler: (...args: any[]) => unknown) => {
    // VS Code refuses a second registration of a name; so does the stand-in.
    if (stub.commands.has(command)) {
      throw new Error(`command '${command}' already exists`);
    }
    stub.commands.set(command, handler);
    return new Disposable(() => stub.commands.delete(command));
  },
  executeCommand: async (command: string, ...args: unknown[]) => {
    const handler = stub.commands.get(command);
    if (handler !== undefined) {
      return handler(...args);
    }
    stub.executed.push({ command, args });
    return undefined;
  },
  getCommands: async () => [...stub.commands.keys()],
};

export const languages: any = new Proxy(
  {
    getDiagnostics: (uri: Uri) => stub.diagnostics.get(uri.toString()) ?? [],
    match: () => 0,
    createDiagnosticCollection: (name: string) => {
      const entries = new Map<string, unknown>();
      return {
        name,
        set: (uri: Uri, value: unknown) => entries.set(uri.toString(), value),
        get: (uri: Uri) => entries.get(uri.toString()),
        delete: (uri: Uri) => entries.delete(uri.toString()),
        clear: () => entries.clear(),
        forEach: () => undefined,
        dispose: () => entries.clear(),
      };
    },
  } as Record<string, unknown>,
  {
    // Every `register…Provider` is accepted and ignored.
    get: (target, name: string) => target[name] ?? (() => new Disposable()),
  },
);

export const env: any = {
  appName: "Visual Studio Code (stand-in)",
  language: "en",
  machineId: "stub",
  clipboard: {
    readText: async () => stub.clipboard,
    writeText: async (text: string) => {
      stub.clipboard = text;
    },
  },
  openExternal: async () => true,
};

export const extensions: any = { getExtension: () => undefined, all: [] };

export const version = "1.82.0";

// Classes vscode-languageclient subclasses or checks against in features these tests do not drive.
class Inert {
  constructor(..._args: unknown[]) {}
}
export class CallHierarchyItem extends Inert {}
export class CodeAction extends Inert {}
export class CodeActionKind extends Inert {}
export class CodeLens extends Inert {}
export class CompletionItem extends Inert {}
export class DocumentLink extends Inert {}
export class InlayHint extends Inert {}
export class SymbolInformation extends Inert {}
export class TypeHierarchyItem extends Inert {}
export class TabInputText extends Inert {}
export class TabInputTextDiff extends Inert {}
export class TabInputCustom extends Inert {}
export class TabInputNotebook extends Inert {}
export class TabInputNotebookDiff extends Inert {}
