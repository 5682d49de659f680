import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { startExtension, stopExtension } from "./harness";
import { stub } from "./stub/vscode";

afterEach(stopExtension);

function statusItem() {
  const [item] = stub.statusBarItems;
  assert.ok(item, "the extension creates a status-bar item");
  return item;
}

test("the status bar shows a running Kimi job and hides when it ends", async () => {
  const s = await startExtension();
  const client = s.api.client!;
  assert.equal(statusItem().visible, false);
  await client.sendRequest("fake/progress", { token: "t1", kind: "begin", title: "Kimi: Fix failing tests" });
  assert.equal(statusItem().visible, true);
  assert.ok(statusItem().text.includes("Kimi: Fix failing tests"));
  assert.equal(statusItem().command, "kimi.cancel");
  await client.sendRequest("fake/progress", { token: "t1", kind: "report", message: "step 3: RunTests" });
  assert.ok(String(statusItem().tooltip).includes("step 3: RunTests"));
  await client.sendRequest("fake/progress", { token: "t1", kind: "end" });
  assert.equal(statusItem().visible, false);
});

test("progress that is not a Kimi job leaves the status bar alone", async () => {
  const s = await startExtension();
  await s.api.client!.sendRequest("fake/progress", { token: "idx", kind: "begin", title: "Indexing" });
  assert.equal(statusItem().visible, false);
});

test("the status bar stays while any job runs and counts the others", async () => {
  const s = await startExtension();
  const client = s.api.client!;
  await client.sendRequest("fake/progress", { token: "a", kind: "begin", title: "Kimi: Fix" });
  await client.sendRequest("fake/progress", { token: "b", kind: "begin", title: "Kimi: Refactor" });
  assert.ok(statusItem().text.includes("(+1)"));
  await client.sendRequest("fake/progress", { token: "b", kind: "end" });
  assert.equal(statusItem().visible, true);
  await client.sendRequest("fake/progress", { token: "a", kind: "end" });
  assert.equal(statusItem().visible, false);
});

test("clicking the status bar cancels every job on the server", async () => {
  const s = await startExtension();
  await s.api.client!.sendRequest("fake/progress", { token: "t", kind: "begin", title: "Kimi: Fix" });
  await s.run(statusItem().command!);
  assert.deepEqual((await s.seen()).commands, [{ command: "kimi.cancel", arguments: [{}] }]);
});

test("the status bar clears when the server stops", async () => {
  const s = await startExtension();
  await s.api.client!.sendRequest("fake/progress", { token: "t", kind: "begin", title: "Kimi: Fix" });
  await s.api.restart();
  assert.equal(statusItem().visible, false);
});
