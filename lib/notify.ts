import type { Report } from "./report.js";

/** Where reports go once a run ends (Slack, on-call, a console). */
export interface Notifier {
  notify(report: Report): Promise<void>;
}

/** Options of {@link createConsoleNotifier}. */
export interface ConsoleNotifierOptions {
  stream: NodeJS.WritableStream;
  /** `json`: one JSON line per report; `text`: the one-line summary with its status. */
  format: "json" | "text";
}

const ICON: Record<Report["status"], string> = {
  succeeded: "OK",
  partial: "PARTIAL",
  failed: "FAILED",
  skipped: "SKIPPED",
};

/** One line a person reads: status, system, runbook, dry run, summary. */
export function formatReportLine(report: Report): string {
  const dry = report.dryRun ? " (dry run)" : "";
  return `[${ICON[report.status]}] ${report.system} ${report.runbook}${dry}: ${report.summary}`;
}

/** Writes each report to a stream (the runner has redacted it). */
export function createConsoleNotifier(options: ConsoleNotifierOptions): Notifier {
  return {
    async notify(report) {
      options.stream.write(options.format === "json" ? `${JSON.stringify(report)}\n` : `${formatReportLine(report)}\n`);
    },
  };
}

/** Sends each report to several notifiers; one failing does not stop the others. */
export function fanOut(notifiers: Notifier[]): Notifier {
  return {
    async notify(report) {
      const results = await Promise.allSettled(notifiers.map((n) => n.notify(report)));
      const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failure) throw failure.reason;
    },
  };
}

/** A notifier that drops everything (e.g. the CLI with `--json`, whose report goes to stdout instead). */
export const silentNotifier: Notifier = { notify: async () => {} };
