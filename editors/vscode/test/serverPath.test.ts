import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, test } from "node:test";
import { findServer } from "../src/serverPath";
import { makeServerBin, startExtension, stopExtension, waitFor } from "./harness";
import { stub } from "./stub/vscode";

afterEach(stopExtension);

test("kimi-lsp missing from PATH: an error names the install command and opens the setting", async () => {
  stub.messageAnswers.push("Open Settings");
  const s = await startExtension({ path: () => "" });
  assert.equal(s.api.client, undefined);
  const error = stub.messages.find((m) => m.level === "error");
  assert.ok(error?.text.includes("pip install kimi-lsp"), error?.text);
  assert.deepEqual(error?.items, ["Open Settings", "Copy Install Command"]);
  await waitFor(() => stub.executed.length > 0, "the settings UI to open");
  assert.deepEqual(stub.executed, [{ command: "workbench.action.openSettings", args: ["kimi.serverPath"] }]);
  assert.ok(s.output().includes("pip install kimi-lsp"));
});

test("the missing-server error can copy the install command", async () => {
  stub.messageAnswers.push("Copy Install Command");
  await startExtension({ path: () => "" });
  await waitFor(() => stub.clipboard !== "", "the clipboard");
  assert.equal(stub.clipboard, "pip install kimi-lsp");
});

test("a command run while the server is missing repeats the install hint and sends nothing", async () => {
  const s = await startExtension({ path: () => "" });
  stub.messages = [];
  assert.equal(await s.run("kimi.fixTests", { uri: "file:///x" }), undefined);
  assert.ok(stub.messages.some((m) => m.level === "error" && m.text.includes("pip install kimi-lsp")));
});

test("kimi.serverPath pointing at a file that is not executable is reported", async () => {
  const dir = makeServerBin();
  const notExecutable = path.join(dir, "plain.txt");
  fs.writeFileSync(notExecutable, "");
  await startExtension({ path: () => "", settings: { "kimi.serverPath": { globalValue: notExecutable } } });
  const error = stub.messages.find((m) => m.level === "error");
  assert.ok(error?.text.includes(notExecutable) && error.text.includes("pip install kimi-lsp"), error?.text);
  fs.rmSync(dir, { recursive: true });
});

test("kimi.serverPath set in user settings starts that executable with no arguments", async () => {
  const dir = makeServerBin();
  const s = await startExtension({
    path: () => "",
    settings: { "kimi.serverPath": { globalValue: path.join(dir, "kimi-lsp") } },
  });
  assert.deepEqual((await s.seen()).argv, []);
  fs.rmSync(dir, { recursive: true });
});

test("kimi.serverPath from workspace settings is ignored: a repository cannot pick the program", async () => {
  const dir = makeServerBin();
  await startExtension({
    path: () => "",
    settings: { "kimi.serverPath": { workspaceValue: path.join(dir, "kimi-lsp") } },
  });
  assert.ok(stub.messages.some((m) => m.level === "error" && m.text.includes("not on PATH")));
  fs.rmSync(dir, { recursive: true });
});

test("findServer looks for kimi-lsp.exe through PATHEXT on Windows", () => {
  const dir = fs.mkdtempSync(path.join(makeServerBin(), "win-"));
  fs.writeFileSync(path.join(dir, "kimi-lsp.EXE"), "");
  const found = findServer("", { Path: dir, PATHEXT: ".COM;.EXE" }, "win32");
  assert.deepEqual(found, { path: path.join(dir, "kimi-lsp.EXE") });
  fs.rmSync(path.dirname(dir), { recursive: true });
});
