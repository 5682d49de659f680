import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { SERVER_KEYS } from "../src/settings";

interface Property {
  type?: string;
  default?: unknown;
  description?: string;
  markdownDescription?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  scope?: string;
}

const root = path.join(__dirname, "..", "..");
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const properties: Record<string, Property> = manifest.contributes.configuration.properties;

// The settings keys fixed by DESIGN.md ("LSP contract"), plus the two the client itself reads.
const DESIGN_KEYS = [
  "baseUrl", "model", "testCommand", "maxSteps", "contextBudget", "applyMode", "temperature", "topP", "maxTokens",
  "runTestsOnSave", "sandbox", "testNetwork",
];

test("every DESIGN.md setting is contributed with a type, a default and a description", () => {
  for (const key of [...DESIGN_KEYS, "serverPath", "trace.server"]) {
    const property = properties[`kimi.${key}`];
    assert.ok(property, `kimi.${key} is contributed`);
    assert.ok(property.type, `kimi.${key} has a type`);
    assert.ok("default" in property, `kimi.${key} has a default`);
    assert.ok((property.description ?? property.markdownDescription ?? "").length > 10, `kimi.${key} is described`);
  }
  assert.deepEqual([...SERVER_KEYS].sort(), [...DESIGN_KEYS].sort());
});

test("defaults and limits follow the model card and DESIGN.md", () => {
  assert.deepEqual(
    [properties["kimi.maxSteps"]?.default, properties["kimi.maxSteps"]?.minimum, properties["kimi.maxSteps"]?.maximum],
    [100, 1, 300],
  );
  assert.equal(properties["kimi.contextBudget"]?.default, 64000);
  assert.deepEqual(properties["kimi.applyMode"]?.enum, ["apply", "preview"]);
  assert.equal(properties["kimi.temperature"]?.default, 1.0);
  assert.equal(properties["kimi.topP"]?.default, 0.95);
  assert.equal(properties["kimi.maxTokens"]?.default, 16384);
  assert.equal(properties["kimi.runTestsOnSave"]?.default, false);
  assert.equal(properties["kimi.baseUrl"]?.scope, "machine");
  assert.equal(properties["kimi.serverPath"]?.scope, "machine");
});

test("the commands are contributed to the palette under the Kimi category", () => {
  const commands = new Map<string, { title: string; category: string }>(
    manifest.contributes.commands.map((c: { command: string; title: string; category: string }) => [c.command, c]),
  );
  for (const id of ["kimi.fix", "kimi.fixTests", "kimi.refactor", "kimi.cancel", "kimi.showOutput", "kimi.setApiKey", "kimi.restart"]) {
    assert.equal(commands.get(id)?.category, "Kimi", id);
  }
  assert.equal(commands.get("kimi.setApiKey")?.title, "Set API key");
  assert.equal(commands.get("kimi.restart")?.title, "Restart server");
});

test("the vsix holds only the bundle, the manifest, the README and the LICENSE", () => {
  const ignore = fs.readFileSync(path.join(root, ".vscodeignore"), "utf8").split("\n").map((l) => l.trim());
  assert.ok(ignore.includes("**"));
  for (const kept of ["!dist/extension.js", "!package.json", "!README.md", "!LICENSE"]) {
    assert.ok(ignore.includes(kept), kept);
  }
});

test("npm run package builds the entry point first (vscode:prepublish), so a fresh clone packages", () => {
  const prepublish: string | undefined = manifest.scripts["vscode:prepublish"];
  assert.equal(prepublish, "npm run build");
  const outfile = /--outfile=(\S+)/.exec(manifest.scripts.build)?.[1];
  assert.equal(path.normalize(outfile ?? ""), path.normalize(manifest.main), "build writes the file `main` names");
});

test("in Restricted Mode the extension loads only to say it is off, and workspace values of its settings are ignored", () => {
  const trust = manifest.capabilities.untrustedWorkspaces;
  assert.equal(trust.supported, "limited");
  const workspaceScoped = Object.entries(properties)
    .filter(([, property]) => property.scope !== "machine" && property.scope !== "window")
    .map(([key]) => key);
  assert.deepEqual([...trust.restrictedConfigurations].sort(), workspaceScoped.sort());
});
