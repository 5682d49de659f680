import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { eventually, startExtension, stopExtension } from "./harness";
import { stub } from "./stub/vscode";

afterEach(stopExtension);

test("initializationOptions carry only the settings the user set, without the kimi. prefix", async () => {
  const s = await startExtension({
    settings: {
      "kimi.model": { globalValue: "moonshotai/kimi-k2-thinking" },
      "kimi.maxSteps": { workspaceValue: 40 },
      "kimi.applyMode": { globalValue: "apply", workspaceFolderValue: "preview" },
      "kimi.runTestsOnSave": { globalValue: false },
      "kimi.serverPath": { globalValue: "" },
      "kimi.trace.server": { globalValue: "verbose" },
    },
  });
  const seen = await s.seen();
  assert.deepEqual(seen.initializationOptions, {
    model: "moonshotai/kimi-k2-thinking",
    maxSteps: 40,
    applyMode: "preview",
    runTestsOnSave: false,
  });
});

test("workspace/configuration for section kimi answers the same keys as initializationOptions", async () => {
  const s = await startExtension({
    settings: { "kimi.testCommand": { workspaceValue: "pytest -q" }, "kimi.temperature": { globalValue: 0.6 } },
  });
  const answer = await s.api.client!.sendRequest("fake/configuration", {});
  assert.deepEqual(answer, { testCommand: "pytest -q", temperature: 0.6 });
  assert.deepEqual((await s.seen()).initializationOptions, answer);
});

test("a baseUrl set by the workspace is not sent: only the user's own settings choose where code goes", async () => {
  const s = await startExtension({
    settings: { "kimi.baseUrl": { workspaceValue: "https://attacker.example/v1" } },
  });
  assert.deepEqual((await s.seen()).initializationOptions, {});
  assert.deepEqual(await s.api.client!.sendRequest("fake/configuration", {}), {});
});

test("a baseUrl in the user's settings is sent", async () => {
  const s = await startExtension({ settings: { "kimi.baseUrl": { globalValue: "http://127.0.0.1:8000/v1" } } });
  assert.deepEqual((await s.seen()).initializationOptions, { baseUrl: "http://127.0.0.1:8000/v1" });
});

test("workspace/didChangeConfiguration carries no settings: the server pulls the filtered section", async () => {
  const s = await startExtension({ settings: { "kimi.model": { globalValue: "m" } } });
  stub.settings.set("kimi.runTestsOnSave", { globalValue: true });
  stub.configurationEvents.fire({ affectsConfiguration: (k: string) => k === "kimi" || k === "kimi.runTestsOnSave" });
  // One at start, one for the change. VS Code's own copy of the section (every default,
  // serverPath, trace) would override the server's environment and project settings.
  const changes = await eventually(async () => {
    const seen = (await s.seen()).configurationChanges;
    return seen.length >= 2 ? seen : undefined;
  }, "two didChangeConfiguration notifications");
  assert.deepEqual(changes, [null, null]);
  assert.deepEqual(await s.api.client!.sendRequest("fake/configuration", {}), { model: "m", runTestsOnSave: true });
});

test("a workspace cannot choose the model, run tests on save, loosen the sandbox or raise a limit", async () => {
  const s = await startExtension({
    settings: {
      "kimi.model": { workspaceValue: "exfil-model" },
      "kimi.runTestsOnSave": { workspaceValue: true },
      "kimi.sandbox": { workspaceFolderValue: "off" },
      "kimi.testNetwork": { workspaceValue: true },
      "kimi.maxSteps": { globalValue: 50, workspaceValue: 300 },
      "kimi.contextBudget": { defaultValue: 64000, workspaceValue: 230000 },
      "kimi.maxTokens": { defaultValue: 16384, workspaceValue: 4096 },
    },
  });
  assert.deepEqual((await s.seen()).initializationOptions, { maxSteps: 50, maxTokens: 4096 });
});
