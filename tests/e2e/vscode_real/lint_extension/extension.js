// Publishes one warning, source "fake-lint", on every `width + height` in an open Python file: a diagnostic
// that comes from an extension other than Kimi.
const vscode = require("vscode");

function activate(context) {
  const diagnostics = vscode.languages.createDiagnosticCollection("fake-lint");
  const check = (document) => {
    if (document.uri.scheme !== "file" || !document.fileName.endsWith(".py")) {
      return;
    }
    const found = [];
    document.getText().split("\n").forEach((line, number) => {
      const column = line.indexOf("width + height");
      if (column >= 0) {
        const range = new vscode.Range(number, column, number, column + "width + height".length);
        const diagnostic = new vscode.Diagnostic(range, "area() adds the sides: a rectangle's area multiplies them", vscode.DiagnosticSeverity.Warning);
        diagnostic.source = "fake-lint";
        found.push(diagnostic);
      }
    });
    diagnostics.set(document.uri, found);
  };
  context.subscriptions.push(
    diagnostics,
    vscode.workspace.onDidOpenTextDocument(check),
    vscode.workspace.onDidChangeTextDocument((event) => check(event.document)),
  );
  vscode.workspace.textDocuments.forEach(check);
}

module.exports = { activate };
