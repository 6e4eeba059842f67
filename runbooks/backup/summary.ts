import { plural } from "../../lib/text.js";
import type { Database } from "../../systems/schema.js";
import type { ReportBuilder } from "../report.js";
import type { Action, RunbookContext } from "../types.js";
import { formatBytes, type StepResult } from "./apply.js";
import type { BackupPlan, PassedOverNote } from "./plan.js";

/** How one database's backup ended: the typed result the summary is built from (never `Action.after`). */
export type DatabaseOutcome = { resource: string; notes: PassedOverNote[] } & (
  | { kind: "skipped"; reason: string }
  | { kind: "failed"; reason: string }
  | { kind: "would-dump" }
  | { kind: "would-hand-off" }
  | { kind: "dumped"; key: string; bytes: number }
  | { kind: "handed-off"; reason: string }
);

/** Options of {@link reportOutcome}. */
export interface ReportOutcomeOptions {
  ctx: Pick<RunbookContext, "system">;
  database: Database;
  plan: BackupPlan;
  /** `planned`: a dry run, or a step that changes nothing (a skip). */
  result: StepResult | "planned";
}

/** The action, and the outcome, of a plan that was only planned (a dry run, or a skip). */
function planned(plan: BackupPlan): { action: Action; outcome: DatabaseOutcome } {
  const { resource, notes, step } = plan;
  switch (step.kind) {
    case "dump":
      return {
        action: { resource, action: "backup", status: "would-do", after: step.shown },
        outcome: { resource, notes, kind: "would-dump" },
      };
    case "hand-off":
      return {
        action: {
          resource,
          action: "hand-off",
          status: "would-do",
          reason: `would hand off to Fargate: ${step.reason}`,
          after: step.shown,
        },
        outcome: { resource, notes, kind: "would-hand-off" },
      };
    case "skip":
      return {
        action: {
          resource,
          action: "backup",
          status: "skipped",
          reason: step.reason,
          ...(step.before ? { before: step.before } : {}),
        },
        outcome: { resource, notes, kind: "skipped", reason: step.reason },
      };
    default:
      throw new Error(`internal: the plan of ${resource} still needs the server`);
  }
}

/** The action, and the outcome, of a step that was carried out. */
function carriedOut(plan: BackupPlan, result: StepResult): { action: Action; outcome: DatabaseOutcome } {
  const { resource, notes, step } = plan;
  const action = step.kind === "hand-off" ? "hand-off" : "backup";
  const shown = step.kind === "hand-off" || step.kind === "dump" ? { after: step.shown } : {};
  switch (result.kind) {
    case "failed":
      return {
        action: { resource, action, status: "failed", reason: result.reason, ...shown },
        outcome: { resource, notes, kind: "failed", reason: result.reason },
      };
    case "handed-off": {
      const reason = `handed off to Fargate task ${result.taskArn}: ${result.reason}`;
      const after = step.kind === "hand-off" ? { ...step.shown, taskArn: result.taskArn } : { taskArn: result.taskArn };
      return {
        action: { resource, action, status: "done", reason, after },
        outcome: { resource, notes, kind: "handed-off", reason },
      };
    }
    default: {
      const { key, bytes, sha256, durationMs } = result;
      return {
        action: { resource, action, status: "done", after: { key, bytes, sha256, durationMs } },
        outcome: { resource, notes, kind: "dumped", key, bytes },
      };
    }
  }
}

/**
 * Reports one database: the dumps passed over (`ignore-backup`), the estimate, the step's action, and
 * for a finished dump its size, duration and a `BackupAgeSeconds` of 0 for the freshness alarm.
 */
export function reportOutcome(report: ReportBuilder, options: ReportOutcomeOptions): DatabaseOutcome {
  const { plan, result, database } = options;
  for (const note of plan.notes) {
    report.add({ resource: note.key, action: "ignore-backup", status: "skipped", reason: note.reason });
  }
  if (plan.estimateMs !== undefined) report.metric(`estimatedMs.${database.id}`, plan.estimateMs);
  const { action, outcome } = result === "planned" ? planned(plan) : carriedOut(plan, result);
  if (result !== "planned" && result.kind === "dumped") {
    report.metric(`bytes.${database.id}`, result.bytes);
    report.metric(`durationMs.${database.id}`, result.durationMs);
    report.series.push({
      name: "BackupAgeSeconds",
      unit: "Seconds",
      value: 0,
      dimensions: { System: options.ctx.system.id, Database: database.id },
    });
  }
  report.add(action);
  return outcome;
}

/** Options of {@link summarize}. */
export interface SummarizeOptions {
  dryRun: boolean;
  /** The stop reason when the run stopped before the last database. */
  stopped?: string;
}

/** What went right: the databases backed up (and their bytes), then each hand-off with its reason. */
function successLine(outcomes: DatabaseOutcome[]): string | undefined {
  const dumped = outcomes.flatMap((o) => (o.kind === "dumped" ? [o] : []));
  const handedOff = outcomes.flatMap((o) => (o.kind === "handed-off" ? [o] : []));
  if (dumped.length === 0 && handedOff.length === 0) return undefined;
  const bytes = dumped.reduce((sum, o) => sum + o.bytes, 0);
  return [
    ...(dumped.length ? [`backed up ${plural(dumped.length, "database")}, ${formatBytes(bytes)}`] : []),
    ...handedOff.map((o) => `${o.resource}: ${o.reason}`),
  ].join("; ");
}

/**
 * One line for Slack, from the typed outcomes: in a dry run what would be backed up; else the failures
 * first; else what was backed up or handed off; else why nothing was (every note and skip reason).
 */
export function summarize(outcomes: DatabaseOutcome[], options: SummarizeOptions): string {
  if (options.dryRun) {
    const would = outcomes.filter((o) => o.kind === "would-dump" || o.kind === "would-hand-off").length;
    return `would back up ${plural(would, "database")}`;
  }
  const failed = outcomes.flatMap((o) => (o.kind === "failed" ? [o] : []));
  if (failed.length) {
    const reasons = failed
      .map((o) => `${o.resource}: ${o.reason}`)
      .join("; ")
      .slice(0, 300);
    return `${plural(failed.length, "backup")} failed: ${reasons}`;
  }
  const success = successLine(outcomes);
  if (success) return success;
  const reasons = outcomes.flatMap((o) => [
    ...o.notes.map((n) => n.reason),
    ...(o.kind === "skipped" ? [o.reason] : []),
  ]);
  return [...reasons, ...(options.stopped ? [options.stopped] : [])].join("; ");
}
