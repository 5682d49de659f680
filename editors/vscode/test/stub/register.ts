/**
 * Preloaded with `node --require`: makes `require("vscode")` (from the extension and from
 * vscode-languageclient) load the stand-in in this folder, without a node_modules entry.
 */
import Module = require("node:module");
import * as path from "node:path";

const stubPath = path.join(__dirname, "vscode.js");
const moduleWithResolver = Module as unknown as {
  _resolveFilename(request: string, ...rest: unknown[]): string;
};
const resolve = moduleWithResolver._resolveFilename;
moduleWithResolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === "vscode" ? stubPath : resolve.call(this, request, ...rest);
};
