import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { startExtension, stopExtension } from "./harness";
import { Diagnostic, DiagnosticSeverity, Position, Range, Selection, stub, Uri, window } from "./stub/vscode";

afterEach(stopExtension);

const FILE = Uri.file("/work/project/calc.py");

function openEditor(selection: Selection): void {
  window.activeTextEditor = { document: { uri: FILE }, selection };
}

function diagnostic(range: Range, message: string, source: string, severity = DiagnosticSeverity.Error): Diagnostic {
  const d = new Diagnostic(range, message, severity);
  d.source = source;
  return d;
}

test("kimi.fix sends the diagnostics at the cursor from every source, as LSP JSON", async () => {
  const s = await startExtension();
  const fromPytest = diagnostic(new Range(3, 0, 3, 20), "assert 3 == 4", "pytest");
  fromPytest.code = "test_add";
  const fromPyright = diagnostic(new Range(3, 4, 3, 9), "Undefined name", "Pyright", DiagnosticSeverity.Warning);
  const elsewhere = diagnostic(new Range(10, 0, 10, 5), "unused import", "Ruff");
  stub.diagnostics.set(FILE.toString(), [fromPytest, fromPyright, elsewhere]);
  openEditor(new Selection(new Position(3, 6), new Position(3, 6)));

  assert.deepEqual(await s.run("kimi.fix"), { started: "kimi.fix" });

  const [sent] = (await s.seen()).commands;
  assert.deepEqual(sent, {
    command: "kimi.fix",
    arguments: [
      {
        uri: FILE.toString(),
        range: { start: { line: 3, character: 6 }, end: { line: 3, character: 6 } },
        diagnostics: [
          {
            range: { start: { line: 3, character: 0 }, end: { line: 3, character: 20 } },
            message: "assert 3 == 4",
            severity: 1,
            source: "pytest",
            code: "test_add",
          },
          {
            range: { start: { line: 3, character: 4 }, end: { line: 3, character: 9 } },
            message: "Undefined name",
            severity: 2,
            source: "Pyright",
          },
        ],
      },
    ],
  });
});

test("kimi.fix with the cursor past the squiggle takes the diagnostics on the cursor's line", async () => {
  const s = await startExtension();
  stub.diagnostics.set(FILE.toString(), [diagnostic(new Range(2, 0, 2, 4), "bad", "mypy")]);
  openEditor(new Selection(new Position(2, 30), new Position(2, 30)));
  await s.run("kimi.fix");
  const [sent] = (await s.seen()).commands;
  assert.equal((sent?.arguments?.[0] as { diagnostics: { message: string }[] }).diagnostics[0]?.message, "bad");
});

test("kimi.fix with no diagnostics at the cursor says so and sends nothing", async () => {
  const s = await startExtension();
  stub.diagnostics.set(FILE.toString(), [diagnostic(new Range(10, 0, 10, 5), "far away", "Ruff")]);
  openEditor(new Selection(new Position(1, 0), new Position(1, 0)));
  await s.run("kimi.fix");
  assert.deepEqual((await s.seen()).commands, []);
  assert.ok(stub.messages.some((m) => m.text.includes("no diagnostics at the cursor")));
});

test("arguments given by a server code action are forwarded unchanged", async () => {
  const s = await startExtension();
  const fromAction = { uri: "file:///a.py", range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, diagnostics: [], extra: { jobHint: 7 } };
  await s.run("kimi.fix", fromAction);
  await s.run("kimi.fixTests", { uri: "file:///a.py" }, "second");
  assert.deepEqual((await s.seen()).commands, [
    { command: "kimi.fix", arguments: [fromAction] },
    { command: "kimi.fixTests", arguments: [{ uri: "file:///a.py" }, "second"] },
  ]);
});

test("kimi.fixTests from the palette sends the active file", async () => {
  const s = await startExtension();
  openEditor(new Selection(new Position(0, 0), new Position(0, 0)));
  await s.run("kimi.fixTests");
  assert.deepEqual((await s.seen()).commands, [{ command: "kimi.fixTests", arguments: [{ uri: FILE.toString() }] }]);
});
