import {
  ApplyWorkspaceEditRequest,
  DynamicFeature,
  ExecuteCommandRequest,
  LanguageClient,
  ResponseError,
  type ApplyWorkspaceEditParams,
  type ApplyWorkspaceEditResult,
  type LanguageClientOptions,
  type ProgressToken,
  type Protocol2CodeConverter,
  type StaticFeature,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";
import type * as vscode from "vscode";
import { SECTION, type ServerSettings } from "./settings";

/** Everything the language client needs to know about this editor session. */
export interface ClientSetup {
  /** The `kimi-lsp` executable, started with no arguments (the server on stdio). */
  readonly serverPath: string;
  /** The server process environment (it carries the API key; never log it). */
  readonly env: NodeJS.ProcessEnv;
  /** The `initializationOptions`. */
  readonly settings: ServerSettings;
  /** The `kimi` section for a `workspace/configuration` item with this scope. */
  readonly settingsFor: (scopeUri: string | undefined) => ServerSettings;
  readonly outputChannel: vscode.OutputChannel;
  /** Sees every work-done `$/progress` value the server sends; true when it showed it (a Kimi job). */
  readonly onProgress: (
    token: ProgressToken,
    value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd,
  ) => boolean;
  /** Answers the server's `workspace/applyEdit` (the stock answer cannot ask the user nicely first). */
  readonly applyEdit: (converter: Protocol2CodeConverter, params: ApplyWorkspaceEditParams) => Promise<ApplyWorkspaceEditResult>;
}

/**
 * A language client that does not turn the server's `executeCommandProvider` commands into VS Code
 * commands: the extension contributes `kimi.fix` and friends itself (they need editor state when
 * run from the palette) and sends `workspace/executeCommand` on its own; the stock feature would
 * fail registering the same names a second time.
 */
class KimiLanguageClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    if (DynamicFeature.is(feature) && feature.registrationType.method === ExecuteCommandRequest.method) {
      return;
    }
    super.registerFeature(feature);
  }
}

/** A language client for `kimi-lsp` over stdio, not yet started. */
export function createClient(setup: ClientSetup): LanguageClient {
  const options: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: setup.outputChannel,
    initializationOptions: setup.settings,
    synchronize: { configurationSection: SECTION },
    middleware: {
      handleWorkDoneProgress: (token, value, next) => {
        // A Kimi job is shown once, by the extension's own item (which cancels on click); the client's
        // progress only sees the end, which releases what it set up for the token.
        if (!setup.onProgress(token, value) || value.kind === "end") {
          next(token, value);
        }
      },
      workspace: {
        // Never push the section itself: VS Code's copy holds every default plus client-only keys
        // (serverPath, trace), and the server would take them as the user's choices, over its
        // environment and project settings. `settings: null` makes the server pull the section
        // through workspace/configuration, answered below with only what the user set.
        didChangeConfiguration: (_sections, next) => next(undefined),
        // The `kimi` section is answered like initializationOptions (only what the user set), so
        // the server's defaults stay in one place and client-only keys stay on the client.
        configuration: async (params, token, next) => {
          const answer = await next(params, token);
          if (answer instanceof ResponseError) {
            return answer;
          }
          return params.items.map((item, i) =>
            item.section === SECTION ? setup.settingsFor(item.scopeUri) : answer[i],
          );
        },
      },
    },
  };
  const client = new KimiLanguageClient(
    "kimi",
    "Kimi",
    { command: setup.serverPath, args: [], options: { env: setup.env } },
    options,
  );
  // Registered before start, this replaces the stock handler, also for every restart of the server.
  client.onRequest(ApplyWorkspaceEditRequest.type, (params) => setup.applyEdit(client.protocol2CodeConverter, params));
  return client;
}
