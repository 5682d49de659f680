import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { SECRET_NAME } from "../src/apiKey";
import { sha256, startExtension, stopExtension } from "./harness";
import { stub } from "./stub/vscode";

afterEach(stopExtension);

const KEY = "sk-test-not-a-real-key-0123456789";

test("KIMI_API_KEY reaches the server environment and never its options, configuration or the logs", async () => {
  const s = await startExtension({
    env: { KIMI_API_KEY: KEY },
    settings: { "kimi.trace.server": { globalValue: "verbose" }, "kimi.model": { globalValue: "m" } },
  });
  const seen = await s.seen();
  assert.equal(seen.apiKeySha256, sha256(KEY));
  const configuration = await s.api.client!.sendRequest("fake/configuration", {});
  assert.ok(!JSON.stringify([seen.initializationOptions, seen.configurationChanges, configuration]).includes(KEY));
  assert.ok(s.output().includes("API key: from KIMI_API_KEY"), s.output());
  assert.ok(!s.output().includes(KEY));
  assert.ok(!JSON.stringify(stub.messages).includes(KEY));
});

test("MOONSHOT_API_KEY is passed to the server as KIMI_API_KEY", async () => {
  const s = await startExtension({ env: { MOONSHOT_API_KEY: KEY } });
  assert.equal((await s.seen()).apiKeySha256, sha256(KEY));
});

test("a key in SecretStorage wins over the environment", async () => {
  const s = await startExtension({ env: { KIMI_API_KEY: "sk-from-env" }, secrets: { [SECRET_NAME]: KEY } });
  assert.equal((await s.seen()).apiKeySha256, sha256(KEY));
  assert.ok(s.output().includes("API key: from secret storage"));
});

test("Set API key stores the key in SecretStorage and restarts the server with it", async () => {
  const s = await startExtension();
  assert.equal((await s.seen()).apiKeySha256, null);
  stub.inputAnswers.push(KEY);
  await s.run("kimi.setApiKey");
  assert.equal(s.secrets.values.get(SECRET_NAME), KEY);
  assert.equal(stub.inputBoxes[0]?.password, true);
  assert.equal((await s.seen()).apiKeySha256, sha256(KEY));
  assert.ok(!s.output().includes(KEY));
  assert.ok(!stub.settings.has(SECRET_NAME), "the key must not be written to settings");
});

test("cancelling the Set API key box keeps the stored key", async () => {
  const s = await startExtension({ secrets: { [SECRET_NAME]: KEY } });
  stub.inputAnswers.push(undefined);
  await s.run("kimi.setApiKey");
  assert.equal(s.secrets.values.get(SECRET_NAME), KEY);
});

test("no key and no custom baseUrl: a warning offers to set one", async () => {
  await startExtension();
  const warning = stub.messages.find((m) => m.level === "warning");
  assert.ok(warning?.text.includes("KIMI_API_KEY"));
  assert.deepEqual(warning?.items, ["Set API Key"]);
});
