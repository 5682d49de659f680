import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { State } from "vscode-languageclient/node";
import { SECRET_NAME } from "../src/apiKey";
import { eventually, sha256, startExtension, stopExtension, waitFor, type Seen, type Session } from "./harness";
import { stub } from "./stub/vscode";

afterEach(stopExtension);

const KEY = "sk-test-not-a-real-key-0123456789";

/** How many servers the extension has launched so far. */
function launches(s: Session): number {
  return s.output().match(/^Starting .* \(API key: /gm)?.length ?? 0;
}

/** What the running server has seen; undefined while none runs or when it goes away mid-request. */
async function seenNow(s: Session): Promise<Seen | undefined> {
  return s.api.client?.state === State.Running ? s.seen().catch(() => undefined) : undefined;
}

/** The pid of the running server, once it has taken in the client's start-up notifications. */
async function runningPid(s: Session): Promise<number> {
  return eventually(async () => {
    const seen = await seenNow(s);
    // Killing it before the start-up notifications are written would fail those writes.
    return seen !== undefined && seen.configurationChanges.length > 0 ? seen.pid : undefined;
  }, "a running server");
}

/** Kill the server until the language client stops restarting it (4 restarts in 3 minutes). */
async function crashUntilGivenUp(s: Session): Promise<void> {
  const client = s.api.client!;
  for (let crashes = 0; client.state !== State.Stopped; crashes++) {
    assert.ok(crashes < 10, "the client should give up restarting a crashing server");
    process.kill(await runningPid(s), "SIGKILL");
    await waitFor(() => client.state !== State.Running, "the crash to be noticed", 10000);
  }
  assert.equal(s.api.client, client);
}

test("after the client gives up on a crashing server, the next command starts a new one", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: KEY } });
  await crashUntilGivenUp(s);
  assert.deepEqual(await s.run("kimi.fixTests", { uri: "file:///a.py" }), { started: "kimi.fixTests" });
  assert.equal(s.api.client?.state, State.Running);
  assert.deepEqual((await s.seen()).commands, [{ command: "kimi.fixTests", arguments: [{ uri: "file:///a.py" }] }]);
});

test("Kimi: Restart server brings the server back after the client gave up", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: KEY } });
  await crashUntilGivenUp(s);
  await s.run("kimi.restart");
  assert.equal(s.api.client?.state, State.Running);
  assert.equal((await s.seen()).apiKeySha256, sha256(KEY));
});

test("Kimi: Restart server replaces a running server with a new process", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: KEY } });
  const before = await runningPid(s);
  await s.run("kimi.restart");
  assert.notEqual(await runningPid(s), before);
  assert.equal(launches(s), 2);
  // The forwarded server commands survive the restart (a second registration would throw).
  assert.deepEqual(await s.run("kimi.apply", { jobId: "job-1" }), { started: "kimi.apply" });
});

test("a key stored from another window restarts the server with it, once", async () => {
  const s = await startExtension();
  assert.equal((await s.seen()).apiKeySha256, null);
  await s.secrets.store(SECRET_NAME, KEY); // what SecretStorage reports when another window stores it
  await eventually(
    async () => ((await seenNow(s))?.apiKeySha256 === sha256(KEY)) || undefined,
    "the server to run with the stored key",
  );
  assert.equal(launches(s), 2);
  await s.secrets.delete(SECRET_NAME);
  await eventually(
    async () => ((await seenNow(s))?.apiKeySha256 === null) || undefined,
    "the server to run without the removed key",
  );
  assert.equal(launches(s), 3);
});

test("another secret changing leaves the server alone", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: KEY } });
  const pid = await runningPid(s);
  await s.secrets.store("some.other.secret", "x");
  await s.run("kimi.cancel"); // a round trip through the extension and the server
  assert.equal(await runningPid(s), pid);
  assert.equal(launches(s), 1);
});

test("Set API key restarts the server once, though SecretStorage also reports the change", async () => {
  const s = await startExtension();
  stub.inputAnswers.push(KEY);
  await s.run("kimi.setApiKey");
  assert.equal((await s.seen()).apiKeySha256, sha256(KEY));
  assert.equal(launches(s), 2);
});

test("clicking the status bar with the server stopped starts nothing", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: KEY } });
  const client = s.api.client!;
  await client.sendRequest("fake/progress", { token: "t", kind: "begin", title: "Kimi: Fix" });
  const [item] = stub.statusBarItems;
  await client.stop();
  assert.equal(item?.visible, false);
  // The client stopping by itself (it gives up after repeated crashes) loses the job: said once.
  assert.deepEqual(
    stub.messages.map((m) => m.text.includes("stopped unexpectedly")),
    [true],
  );
  const click = item!.command as { command: string; arguments: unknown[] };
  await s.run(click.command, ...click.arguments);
  assert.equal(s.api.client, client);
  assert.equal(client.state, State.Stopped);
  assert.equal(launches(s), 1);
  assert.equal(stub.messages.length, 1);
});

test("Kimi: Cancel when kimi-lsp is missing does not look for it again", async () => {
  const s = await startExtension({ path: () => "", env: { KIMI_API_KEY: KEY } });
  assert.equal(stub.messages.length, 1); // "not found", from activation
  await s.run("kimi.cancel");
  assert.equal(stub.messages.length, 1);
  assert.equal(s.output().match(/kimi-lsp not found/g)?.length, 1);
});
