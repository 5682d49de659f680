import * as vscode from "vscode";
import type { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from "vscode-languageclient/node";

/** The command a click on the status-bar item runs. */
export const CANCEL_COMMAND = "kimi.cancel";

type Progress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

interface Job {
  readonly title: string;
  message?: string;
}

/**
 * A status-bar item that is visible while the server runs a Kimi job.
 *
 * It follows the server's `$/progress` notifications: a `begin` whose title starts with "Kimi"
 * opens a job, `report` updates its message, `end` closes it. Clicking the item cancels the jobs.
 */
export class JobStatus implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly jobs = new Map<ProgressToken, Job>();

  constructor() {
    this.item = vscode.window.createStatusBarItem("kimi.jobs", vscode.StatusBarAlignment.Left, 0);
    this.item.name = "Kimi jobs";
    this.item.command = CANCEL_COMMAND;
  }

  /** Feed one `$/progress` value for `token`; progress that is not a Kimi job is ignored. */
  update(token: ProgressToken, progress: Progress): void {
    if (progress.kind === "begin") {
      if (progress.title.startsWith("Kimi")) {
        this.jobs.set(token, { title: progress.title, message: progress.message });
      }
    } else if (progress.kind === "report") {
      const job = this.jobs.get(token);
      if (job !== undefined && progress.message !== undefined) {
        job.message = progress.message;
      }
    } else {
      this.jobs.delete(token);
    }
    this.render();
  }

  /** Forget every job, e.g. when the server stops. */
  clear(): void {
    this.jobs.clear();
    this.render();
  }

  dispose(): void {
    this.item.dispose();
  }

  private render(): void {
    const newest = [...this.jobs.values()].at(-1);
    if (newest === undefined) {
      this.item.hide();
      return;
    }
    const more = this.jobs.size > 1 ? ` (+${this.jobs.size - 1})` : "";
    const detail = newest.message ? `: ${newest.message}` : "";
    this.item.text = `$(sync~spin) ${newest.title}${more}`;
    this.item.tooltip = `${newest.title}${detail}\nClick to cancel ${this.jobs.size > 1 ? "all Kimi jobs" : "it"}.`;
    this.item.show();
  }
}
