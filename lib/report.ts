/**
 * The report contract: what every run returns and every edge (audit log, metrics, notifiers, CLI) reads.
 * It lives in `lib/` so that those adapters need nothing from `runbooks/`; `runbooks/types.ts` re-exports it.
 */

/** Outcome of one action on one resource. */
export type ActionStatus = "done" | "would-do" | "skipped" | "failed";

/** One thing a runbook did, would do, or declined to do. */
export interface Action {
  resource: string;
  action: string;
  status: ActionStatus;
  reason?: string;
  before?: unknown;
  after?: unknown;
}

/** Overall outcome of a run. */
export type ReportStatus = "succeeded" | "partial" | "failed" | "skipped";

/** What a run did, for people (summary), machines (metrics) and the audit log (actions). */
export interface Report {
  runbook: string;
  system: string;
  dryRun: boolean;
  status: ReportStatus;
  startedAt: string;
  finishedAt: string;
  actions: Action[];
  metrics: Record<string, number>;
  summary: string;
  /** Extra structured output a runbook wants to keep (e.g. a drill's verdicts). */
  details?: Record<string, unknown>;
  /** Metrics with dimensions (e.g. backup age per database), published as CloudWatch EMF by the handlers. */
  series?: MetricPoint[];
}

/** One dimensioned metric value. */
export interface MetricPoint {
  name: string;
  unit: "Seconds" | "Milliseconds" | "Bytes" | "Count" | "Percent" | "None";
  value: number;
  dimensions: Record<string, string>;
}
