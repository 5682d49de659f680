import assert from "node:assert/strict";
import { test } from "node:test";
import { startExtension, stopExtension } from "./harness";
import { stub } from "./stub/vscode";

test("closing the window stops the server before its output channel closes", async () => {
  await startExtension();
  const channels = [...stub.outputChannels];
  assert.ok(channels.length > 0);
  // VS Code's order (the harness plays it): deactivate(), the subscriptions disposed at once, then the wait.
  await stopExtension();
  for (const channel of channels) {
    assert.ok(channel.text.includes("fake: shutting down"), "the server's last words reach the channel");
    assert.equal(channel.writesAfterDispose, 0, "nothing is written to a closed channel");
    assert.equal(channel.disposed, true, "the channel is closed in the end");
  }
});
