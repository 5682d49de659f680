import * as vscode from "vscode";
import type { Code2ProtocolConverter } from "vscode-languageclient/node";

/** What the job commands need from the running language server. */
export interface KimiServer {
  /** Send `workspace/executeCommand` with these exact arguments; resolves with the server's answer. */
  execute(command: string, args: unknown[]): Promise<unknown>;
  /** Converts editor types to LSP JSON, the same way the language client does. */
  readonly converter: Code2ProtocolConverter;
}

/** Yields the running server, starting it if needed, or undefined after telling the user why there is none. */
export type ServerProvider = () => Promise<KimiServer | undefined>;

/** Yields the server only if it is running now; never starts one. */
export type RunningServer = () => KimiServer | undefined;

/** The server-side commands, named as the server's code actions name them. */
export const JOB_COMMANDS = ["kimi.fix", "kimi.fixTests", "kimi.refactor", "kimi.cancel"] as const;

type Build = (s: KimiServer) => Promise<unknown[] | undefined>;
type Complete = (given: unknown[]) => Promise<unknown[] | undefined>;
const asGiven: Complete = async (given) => given;

/**
 * Register the job commands. Each one forwards the arguments it was given unchanged (that is how
 * the server's own code actions invoke them) and builds them from the editor when it got none
 * (the command palette, key bindings, the status bar).
 */
export function registerJobCommands(server: ServerProvider, running: RunningServer): vscode.Disposable[] {
  const run = (command: string, build: Build, complete: Complete = asGiven, target: ServerProvider = server) =>
    vscode.commands.registerCommand(command, async (...given: unknown[]) => {
      const found = await target();
      if (found === undefined) {
        return undefined;
      }
      const args = given.length > 0 ? await complete(given) : await build(found);
      return args === undefined ? undefined : executeOrTell(found, command, args);
    });
  return [
    run("kimi.fix", fixArguments),
    run("kimi.fixTests", fixTestsArguments),
    run("kimi.refactor", refactorArguments, withInstruction),
    // No arguments means every running job: the status-bar item cancels whatever is running.
    // A server that is not running has no jobs, so cancelling never starts one.
    run("kimi.cancel", async () => [{}], asGiven, async () => running()),
  ];
}

/**
 * Register a command the server offers that the extension does not build arguments for (e.g. the
 * `kimi.apply` of a preview code action): it forwards what it was given.
 */
export function registerForwardedCommand(command: string, server: ServerProvider): vscode.Disposable {
  return vscode.commands.registerCommand(command, async (...given: unknown[]) => {
    const found = await server();
    return found === undefined ? undefined : executeOrTell(found, command, given);
  });
}

/**
 * Send the command; a failure is shown in one error box with the server's own text. This is the
 * only place it shows: the server does not send window/showMessage for errors it returns.
 */
async function executeOrTell(server: KimiServer, command: string, args: unknown[]): Promise<unknown> {
  try {
    return await server.execute(command, args);
  } catch (error) {
    void vscode.window.showErrorMessage(`Kimi: ${errorMessage(error)}`);
    return undefined;
  }
}

/** `[{uri, range, diagnostics}]`: the diagnostics at the cursor from every source, as LSP JSON. */
export async function fixArguments(server: KimiServer): Promise<unknown[] | undefined> {
  const editor = activeEditor();
  if (editor === undefined) {
    return undefined;
  }
  const cursor = editor.selection.active;
  const all = vscode.languages.getDiagnostics(editor.document.uri);
  let here = all.filter((d) => d.range.contains(cursor));
  if (here.length === 0) {
    // The cursor often sits just past a squiggle; the diagnostics on its line are what was meant.
    here = all.filter((d) => d.range.start.line <= cursor.line && cursor.line <= d.range.end.line);
  }
  if (here.length === 0) {
    void vscode.window.showInformationMessage("Kimi: there are no diagnostics at the cursor to fix.");
    return undefined;
  }
  const c = server.converter;
  return [
    {
      uri: c.asUri(editor.document.uri),
      range: c.asRange(editor.selection),
      diagnostics: await c.asDiagnostics(here),
    },
  ];
}

/** `[{uri}]`: the active file, or the first workspace folder when no file is open. */
export async function fixTestsArguments(server: KimiServer): Promise<unknown[] | undefined> {
  const uri = vscode.window.activeTextEditor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
  if (uri === undefined) {
    void vscode.window.showInformationMessage("Kimi: open a folder or a file to fix its tests.");
    return undefined;
  }
  return [{ uri: server.converter.asUri(uri) }];
}

/** `[{uri, range, instruction}]`: the selection and the instruction typed by the user. */
export async function refactorArguments(server: KimiServer): Promise<unknown[] | undefined> {
  const editor = activeEditor();
  if (editor === undefined) {
    return undefined;
  }
  if (editor.selection.isEmpty) {
    void vscode.window.showInformationMessage("Kimi: select the code to refactor first.");
    return undefined;
  }
  const instruction = await askInstruction();
  if (instruction === undefined) {
    return undefined;
  }
  const c = server.converter;
  return [{ uri: c.asUri(editor.document.uri), range: c.asRange(editor.selection), instruction }];
}

/**
 * A code action cannot carry the user's instruction, so a forwarded argument without one gets it
 * from the input box; everything else goes to the server as it came.
 */
async function withInstruction(given: unknown[]): Promise<unknown[] | undefined> {
  const [first, ...rest] = given;
  if (!isRecord(first) || typeof first.instruction === "string") {
    return given;
  }
  const instruction = await askInstruction();
  return instruction === undefined ? undefined : [{ ...first, instruction }, ...rest];
}

async function askInstruction(): Promise<string | undefined> {
  const text = await vscode.window.showInputBox({
    title: "Kimi: Refactor selection",
    prompt: "How should the selected code change?",
    placeHolder: "e.g. extract the parsing into its own function",
    ignoreFocusOut: true,
    validateInput: (value) => (value.trim() ? undefined : "Describe the change."),
  });
  const instruction = text?.trim();
  return instruction ? instruction : undefined;
}

function activeEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    void vscode.window.showInformationMessage("Kimi: open a file first.");
  }
  return editor;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
