import * as vscode from "vscode";
import type {
  ApplyWorkspaceEditParams,
  ApplyWorkspaceEditResult,
  Protocol2CodeConverter,
  WorkspaceEdit,
} from "vscode-languageclient/node";

/** The scheme of the read-only documents holding a proposed change's new text. */
export const REVIEW_SCHEME = "kimi-review";

/** True when the server asks the user to confirm the edit first (`applyMode: "preview"`). */
export function needsConfirmation(edit: WorkspaceEdit): boolean {
  return Object.values(edit.changeAnnotations ?? {}).some((annotation) => annotation.needsConfirmation === true);
}

/**
 * The same edit with no annotation asking for confirmation. VS Code would hold such an edit in its refactor
 * preview with every box unticked; the review below asks instead, and a change the user accepted lands as is.
 */
export function withoutConfirmation(edit: WorkspaceEdit): WorkspaceEdit {
  if (edit.changeAnnotations === undefined) {
    return edit;
  }
  const annotations = Object.fromEntries(
    Object.entries(edit.changeAnnotations).map(([id, annotation]) => [id, { ...annotation, needsConfirmation: false }]),
  );
  return { ...edit, changeAnnotations: annotations };
}

/**
 * Answers the server's `workspace/applyEdit`. An edit that needs confirmation is shown in VS Code's diff
 * editor (current text against the proposed text) with Apply and Discard; any other edit is applied at once,
 * in one step that one undo reverts.
 */
export class Reviews implements vscode.Disposable, vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private readonly pending = new Map<string, (accept: boolean) => void>();
  private reviewed = 0;
  private readonly registration: vscode.Disposable;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(REVIEW_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  async applyEdit(converter: Protocol2CodeConverter, params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    const edit = await converter.asWorkspaceEdit(withoutConfirmation(params.edit));
    if (needsConfirmation(params.edit) && !(await this.review(params.label ?? "Kimi", describe(params.edit), edit))) {
      return { applied: false };
    }
    const applied = await vscode.workspace.applyEdit(edit);
    return applied ? { applied } : { applied, failureReason: "a file changed before the edit could be applied" };
  }

  dispose(): void {
    for (const decide of this.pending.values()) {
      decide(false);
    }
    this.registration.dispose();
  }

  /** Show each changed file as a diff and wait for Apply (true) or Discard (false). */
  private async review(label: string, description: string, edit: vscode.WorkspaceEdit): Promise<boolean> {
    const id = String(++this.reviewed);
    const shown: [vscode.Uri, vscode.Uri][] = [];
    for (const [uri, edits] of edit.entries()) {
      const current = await currentText(uri);
      const proposed = uri.with({ scheme: REVIEW_SCHEME, query: id });
      this.texts.set(proposed.toString(), applyTextEdits(current, edits));
      let original = uri;
      if (current.document === undefined) {
        original = uri.with({ scheme: REVIEW_SCHEME, query: `${id}.new` }); // a file the change creates
        this.texts.set(original.toString(), "");
      }
      shown.push([original, proposed]);
    }
    const decided = new Promise<boolean>((resolve) => this.pending.set(id, resolve));
    try {
      for (const [original, proposed] of shown) {
        const name = vscode.workspace.asRelativePath(proposed.with({ scheme: "file", query: "" }));
        await vscode.commands.executeCommand("vscode.diff", original, proposed, `${name} (${label}, proposed)`, {
          preview: false,
        });
      }
      void vscode.window
        .showInformationMessage(
          [`${label}:`, sentence(description), "Review the proposed change, then apply or discard it."]
            .filter(Boolean)
            .join(" "),
          "Apply",
          "Discard",
        )
        .then((choice) => this.pending.get(id)?.(choice === "Apply"));
      return await decided;
    } finally {
      this.pending.delete(id);
      await closeTabs(id);
      for (const key of [...this.texts.keys()]) {
        if (vscode.Uri.parse(key).query.split(".")[0] === id) {
          this.texts.delete(key);
        }
      }
    }
  }
}

/** What the server says about the change (e.g. whether the tests verified it, and its summary). */
function describe(edit: WorkspaceEdit): string {
  const notes = Object.values(edit.changeAnnotations ?? {}).map((annotation) => annotation.description ?? "");
  return [...new Set(notes.filter(Boolean))].join(" ");
}

function sentence(text: string): string {
  return text === "" || /[.!?]$/.test(text) ? text : `${text}.`;
}

interface CurrentText {
  readonly document: vscode.TextDocument | undefined;
  readonly text: string;
}

async function currentText(uri: vscode.Uri): Promise<CurrentText> {
  try {
    const document = await vscode.workspace.openTextDocument(uri);
    return { document, text: document.getText() };
  } catch {
    return { document: undefined, text: "" };
  }
}

/** The text after `edits`, whose ranges all refer to the current text and do not overlap. */
function applyTextEdits(current: CurrentText, edits: readonly vscode.TextEdit[]): string {
  const offset = (position: vscode.Position) => current.document?.offsetAt(position) ?? 0;
  const spans = edits
    .map((edit, order) => ({ start: offset(edit.range.start), end: offset(edit.range.end), text: edit.newText, order }))
    .sort((a, b) => b.start - a.start || b.order - a.order);
  let text = current.text;
  for (const span of spans) {
    text = text.slice(0, span.start) + span.text + text.slice(span.end);
  }
  return text;
}

async function closeTabs(id: string): Promise<void> {
  const tabs = vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .filter(
      (tab) =>
        tab.input instanceof vscode.TabInputTextDiff &&
        tab.input.modified.scheme === REVIEW_SCHEME &&
        tab.input.modified.query === id,
    );
  if (tabs.length > 0) {
    await vscode.window.tabGroups.close(tabs);
  }
}
