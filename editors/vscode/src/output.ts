import type * as vscode from "vscode";

/** An output channel that stops taking writes once closed. */
export interface ClosableOutput extends vscode.OutputChannel {
  /** Drop every later write (the channel behind it is about to be disposed). */
  close(): void;
}

/**
 * The output channel as the language client sees it. The client logs the server process's exit when the
 * process is gone, which can be after `stop()` resolved and the window went on closing: those late lines
 * are dropped instead of hitting a disposed channel ("Channel has been closed").
 */
export function closableOutput(channel: vscode.OutputChannel): ClosableOutput {
  let open = true;
  return {
    get name() {
      return channel.name;
    },
    append: (value: string) => open && channel.append(value),
    appendLine: (value: string) => open && channel.appendLine(value),
    replace: (value: string) => open && channel.replace(value),
    clear: () => open && channel.clear(),
    show: (...args: unknown[]) => channel.show(...(args as [boolean | undefined])),
    hide: () => channel.hide(),
    // The extension owns the channel: the client giving it up does not close it.
    dispose: () => undefined,
    close: () => {
      open = false;
    },
  } as ClosableOutput;
}
