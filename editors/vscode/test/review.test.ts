import assert from "node:assert/strict";
import { test } from "node:test";
import type { WorkspaceEdit } from "vscode-languageclient/node";
import { needsConfirmation, withoutConfirmation } from "../src/review";

const uri = "file:///proj/shapes.py";

function edit(confirm: boolean | undefined): WorkspaceEdit {
  return {
    documentChanges: [
      {
        textDocument: { uri, version: 3 },
        edits: [{ range: { start: { line: 2, character: 17 }, end: { line: 2, character: 18 } }, newText: "*", annotationId: "kimi-lsp" }],
      },
    ],
    changeAnnotations: {
      "kimi-lsp": { label: "Kimi: Fix failing tests", needsConfirmation: confirm, description: "verified by the tests." },
    },
  };
}

test("only an edit whose annotation asks for it is reviewed first", () => {
  assert.equal(needsConfirmation(edit(true)), true);
  assert.equal(needsConfirmation(edit(false)), false);
  assert.equal(needsConfirmation(edit(undefined)), false);
  assert.equal(needsConfirmation({ changes: { [uri]: [] } }), false);
});

test("an accepted edit is applied without asking again, label and description kept", () => {
  const asked = edit(true);
  const accepted = withoutConfirmation(asked);
  assert.deepEqual(accepted.changeAnnotations, {
    "kimi-lsp": { label: "Kimi: Fix failing tests", needsConfirmation: false, description: "verified by the tests." },
  });
  assert.deepEqual(accepted.documentChanges, asked.documentChanges);
  assert.equal(asked.changeAnnotations!["kimi-lsp"].needsConfirmation, true, "the server's edit is left as it came");
});
