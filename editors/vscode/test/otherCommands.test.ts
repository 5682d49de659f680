import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { startExtension, stopExtension } from "./harness";
import { Position, Selection, stub, Uri, window } from "./stub/vscode";

afterEach(stopExtension);

const FILE = Uri.file("/work/project/calc.py");

function openEditor(selection: Selection): void {
  window.activeTextEditor = { document: { uri: FILE }, selection };
}

test("kimi.refactor asks for the instruction and sends it with the selection", async () => {
  const s = await startExtension();
  openEditor(new Selection(new Position(4, 2), new Position(8, 0)));
  stub.inputAnswers.push("  extract a helper  ");
  await s.run("kimi.refactor");
  assert.equal(stub.inputBoxes.length, 1);
  assert.deepEqual((await s.seen()).commands, [
    {
      command: "kimi.refactor",
      arguments: [
        {
          uri: FILE.toString(),
          range: { start: { line: 4, character: 2 }, end: { line: 8, character: 0 } },
          instruction: "extract a helper",
        },
      ],
    },
  ]);
});

test("kimi.refactor with the input box cancelled sends nothing", async () => {
  const s = await startExtension();
  openEditor(new Selection(new Position(4, 2), new Position(8, 0)));
  stub.inputAnswers.push(undefined);
  await s.run("kimi.refactor");
  assert.equal(stub.inputBoxes.length, 1);
  assert.deepEqual((await s.seen()).commands, []);
});

test("kimi.refactor from a code action without an instruction asks for one and keeps the rest", async () => {
  const s = await startExtension();
  const fromAction = { uri: "file:///a.py", range: { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } } };
  stub.inputAnswers.push("use a dataclass");
  await s.run("kimi.refactor", fromAction);
  await s.run("kimi.refactor", { ...fromAction, instruction: "given" });
  assert.deepEqual((await s.seen()).commands, [
    { command: "kimi.refactor", arguments: [{ ...fromAction, instruction: "use a dataclass" }] },
    { command: "kimi.refactor", arguments: [{ ...fromAction, instruction: "given" }] },
  ]);
  assert.equal(stub.inputBoxes.length, 1);
});

test("kimi.cancel forwards a job id, and without arguments cancels every job", async () => {
  const s = await startExtension();
  await s.run("kimi.cancel", { jobId: "job-3" });
  await s.run("kimi.cancel");
  assert.deepEqual((await s.seen()).commands, [
    { command: "kimi.cancel", arguments: [{ jobId: "job-3" }] },
    { command: "kimi.cancel", arguments: [{}] },
  ]);
});

test("the server's executeCommandProvider does not collide with the extension's commands", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: "sk-test" } });
  assert.ok(s.api.client?.isRunning());
  assert.deepEqual(stub.messages, []);
  for (const command of ["kimi.fix", "kimi.fixTests", "kimi.refactor", "kimi.cancel", "kimi.showOutput", "kimi.setApiKey", "kimi.restart"]) {
    assert.ok(stub.commands.has(command), command);
  }
});

test("kimi.showOutput shows the Kimi output channel", async () => {
  const s = await startExtension();
  await s.run("kimi.showOutput");
  assert.deepEqual(
    stub.outputChannels.map((c) => [c.name, c.shown]),
    [["Kimi", true]],
  );
});

test("a command the server rejects shows one error box with the server's text", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: "sk-test" } });
  const text = "kimi.fixTests: 'uri' must be a string";
  assert.equal(await s.run("kimi.fixTests", { fail: text }), undefined);
  assert.deepEqual(stub.messages, [{ level: "error", text: `Kimi: ${text}`, items: [] }]);
});

test("the server's other commands (a preview's kimi.apply) are forwarded, errors shown the same way", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: "sk-test" } });
  assert.deepEqual(await s.run("kimi.apply", { jobId: "job-1" }), { started: "kimi.apply" });
  assert.equal(await s.run("kimi.apply", { jobId: "job-2", fail: "kimi.apply: no result for job job-2" }), undefined);
  assert.deepEqual(
    (await s.seen()).commands.map((c) => c.arguments),
    [[{ jobId: "job-1" }], [{ jobId: "job-2", fail: "kimi.apply: no result for job job-2" }]],
  );
  assert.deepEqual(stub.messages, [{ level: "error", text: "Kimi: kimi.apply: no result for job job-2", items: [] }]);
});
