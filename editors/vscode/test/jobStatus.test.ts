import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { eventually, startExtension, stopExtension } from "./harness";
import { stub, type StatusBarItem } from "./stub/vscode";

afterEach(stopExtension);

/** The status-bar items of running jobs (not disposed). */
function jobItems(): StatusBarItem[] {
  return stub.statusBarItems.filter((item) => !item.disposed);
}

function click(item: StatusBarItem, s: { run(command: string, ...args: unknown[]): Promise<unknown> }) {
  assert.ok(typeof item.command === "object", "the item carries its job's cancel command");
  return s.run(item.command.command, ...(item.command.arguments ?? []));
}

test("a running job shows one status item with its phase, and it goes when the job ends", async () => {
  const s = await startExtension();
  const client = s.api.client!;
  assert.deepEqual(jobItems(), []);
  await client.sendRequest("fake/progress", { token: "t1", kind: "begin", title: "Kimi: Fix failing tests" });
  await client.sendRequest("fake/progress", { token: "t1", kind: "report", message: "running tests before any change: pytest -q" });
  const [item] = jobItems();
  assert.equal(jobItems().length, 1);
  assert.equal(item.visible, true);
  assert.ok(item.text.includes("Kimi: Fix failing tests: running tests before any change"), item.text);
  await client.sendRequest("fake/progress", { token: "t1", kind: "report", message: "verifying: pytest -q" });
  assert.ok(item.text.includes("verifying"), item.text);
  // The language client's own progress is not shown next to it.
  assert.deepEqual(stub.progress, []);
  await client.sendRequest("fake/progress", { token: "t1", kind: "end" });
  assert.deepEqual(jobItems(), []);
});

test("progress that is not a Kimi job is left to the language client", async () => {
  const s = await startExtension();
  await s.api.client!.sendRequest("fake/progress", { token: "idx", kind: "begin", title: "Indexing" });
  assert.deepEqual(jobItems(), []);
  await eventually(async () => (stub.progress.includes("Indexing") ? true : undefined), "the client's progress");
});

test("two jobs show two items, each cancelling its own job", async () => {
  const s = await startExtension();
  const client = s.api.client!;
  await client.sendRequest("fake/progress", { token: "a", kind: "begin", title: "Kimi: Fix" });
  await client.sendRequest("fake/progress", { token: "b", kind: "begin", title: "Kimi: Refactor selection" });
  const [a, b] = jobItems();
  assert.equal(jobItems().length, 2);
  await click(b, s);
  assert.ok(b.text.includes("cancelling"), b.text);
  assert.deepEqual((await eventually(async () => ((await s.seen()).cancelled.length ? s.seen() : undefined), "a cancel")).cancelled, ["b"]);
  await client.sendRequest("fake/progress", { token: "b", kind: "end" });
  assert.deepEqual(jobItems(), [a]);
});

test("the job items clear when the server stops", async () => {
  const s = await startExtension();
  await s.api.client!.sendRequest("fake/progress", { token: "t", kind: "begin", title: "Kimi: Fix" });
  await s.api.restart();
  assert.deepEqual(jobItems(), []);
});
