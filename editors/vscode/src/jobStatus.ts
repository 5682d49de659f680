import * as vscode from "vscode";
import type { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from "vscode-languageclient/node";

/** The command a click on a job's status-bar item runs, with the job's progress token. */
export const CANCEL_JOB_COMMAND = "kimi.cancelJob";

type Progress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/** Longest phase text shown in the status bar; the tooltip has all of it. */
const SHOWN_CHARACTERS = 60;

interface Job {
  readonly title: string;
  readonly item: vscode.StatusBarItem;
  message?: string;
  cancelling: boolean;
}

/**
 * One status-bar item per running Kimi job, following the server's `$/progress`: the job's title and
 * what it is doing now ("running tests before any change", "step 3/100 · editing a.py", "verifying").
 * Clicking an item cancels that job. These items replace the language client's own progress for Kimi
 * jobs, so a job is shown once.
 */
export class JobStatus implements vscode.Disposable {
  private readonly jobs = new Map<ProgressToken, Job>();
  private created = 0;

  /**
   * Feed one `$/progress` value for `token`. True when it belongs to a Kimi job (a `begin` whose title
   * starts with "Kimi", and what follows it): shown here and nowhere else.
   */
  update(token: ProgressToken, progress: Progress): boolean {
    if (progress.kind === "begin") {
      if (!progress.title.startsWith("Kimi")) {
        return false;
      }
      this.remove(token);
      const item = vscode.window.createStatusBarItem(`kimi.job.${++this.created}`, vscode.StatusBarAlignment.Left, 0);
      item.name = "Kimi job";
      item.command = { title: "Cancel", command: CANCEL_JOB_COMMAND, arguments: [token] };
      const job: Job = { title: progress.title, item, message: progress.message, cancelling: false };
      this.jobs.set(token, job);
      render(job);
      item.show();
      return true;
    }
    const job = this.jobs.get(token);
    if (job === undefined) {
      return false;
    }
    if (progress.kind === "report") {
      job.message = progress.message ?? job.message;
      render(job);
    } else {
      this.remove(token);
    }
    return true;
  }

  /** Say at once that a cancel was asked for; the server's `end` removes the item. */
  cancelling(token: ProgressToken): void {
    const job = this.jobs.get(token);
    if (job !== undefined) {
      job.cancelling = true;
      render(job);
    }
  }

  /** Forget every job, e.g. when the server stops; how many there were. */
  clear(): number {
    const count = this.jobs.size;
    for (const token of [...this.jobs.keys()]) {
      this.remove(token);
    }
    return count;
  }

  dispose(): void {
    this.clear();
  }

  private remove(token: ProgressToken): void {
    this.jobs.get(token)?.item.dispose();
    this.jobs.delete(token);
  }
}

function render(job: Job): void {
  const phase = job.cancelling ? "cancelling…" : (job.message ?? "");
  const short = phase.length > SHOWN_CHARACTERS ? `${phase.slice(0, SHOWN_CHARACTERS - 1)}…` : phase;
  job.item.text = `$(sync~spin) ${job.title}${short ? `: ${short}` : ""}`;
  job.item.tooltip = `${job.title}${phase ? `\n${phase}` : ""}\nClick to cancel this job.`;
}
