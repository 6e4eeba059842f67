import type { CheckResult } from "../../lib/postgres/checks.js";
import { foldText } from "../../lib/text.js";
import type { System } from "../../systems/schema.js";
import type { ReportBuilder } from "../report.js";
import type { DrillRecord } from "./record.js";
import { formatVerdict, judge } from "./verdict.js";

/** What a drill found, from which its record, verdicts and summary are derived. */
export interface DrillFacts {
  drillId: string;
  system: Pick<System, "id" | "dr">;
  database: string;
  source: DrillRecord["source"];
  startedAt: Date;
  finishedAt: Date;
  /** When the restored copy passed validation; absent when it never got there. */
  validatedAt?: Date;
  /** The instant the restored data is from. */
  recoveryPoint?: Date;
  /** False when the recovery point is not usable (the backup did not restore): RPO missed. */
  recoveryPointUsable: boolean;
  restoredFrom: Record<string, unknown>;
  scratch: string;
  checks: CheckResult[];
  cleanup: DrillRecord["cleanup"];
  warnings: string[];
  /** Why the drill could not finish, when it could not. */
  failure?: string;
  restore?: Record<string, unknown>;
}

/** Passed when it reached validation, nothing failed, and no check failed. */
export function drillPassed(facts: Pick<DrillFacts, "failure" | "checks" | "validatedAt">): boolean {
  return !facts.failure && facts.validatedAt !== undefined && facts.checks.every((c) => c.status !== "failed");
}

/** One line for Slack: outcome, both verdicts, checks, cleanup, warnings. */
export function drillSummary(record: Omit<DrillRecord, "summary">): string {
  const failed = record.checks.filter((c) => c.status === "failed");
  const counted = record.checks.filter((c) => c.status !== "skipped");
  const checks = `${counted.length - failed.length}/${counted.length} checks passed${
    failed.length ? ` (failed: ${failed.map((c) => c.name).join(", ")})` : ""
  }`;
  const cleanup =
    record.cleanup.status === "removed" || record.cleanup.status === "absent"
      ? "scratch removed"
      : record.cleanup.status === "pending"
        ? "scratch removal pending"
        : `scratch NOT removed (${record.cleanup.reason ?? "unknown"}; the janitor retries)`;
  const head = `${record.database} (${record.source}): drill ${record.outcome === "passed" ? "passed" : "FAILED"}`;
  const why = record.outcome === "failed" && failureReason(record) ? ` — ${failureReason(record)}` : "";
  const warnings = record.warnings.length ? `; WARNING: ${record.warnings.join("; ")}` : "";
  return `${head}${why}; ${formatVerdict(record.rto)}; ${formatVerdict(record.rpo)}; ${checks}; ${cleanup}${warnings}`;
}

/** Room for the failure text in a summary line: the rest of the line still has to fit in Slack. */
const FAILURE_TEXT_MAX = 200;

function failureReason(record: Omit<DrillRecord, "summary">): string | undefined {
  const error = (record.restore as { failure?: string } | undefined)?.failure;
  if (error) return foldText(error, FAILURE_TEXT_MAX);
  const failed = record.checks.find((c) => c.status === "failed");
  return failed
    ? foldText(
        `${failed.name}: ${failed.reason ?? `expected ${failed.expected}, got ${failed.actual}`}`,
        FAILURE_TEXT_MAX,
      )
    : undefined;
}

/** The record of a finished drill, verdicts judged. */
export function buildDrillRecord(facts: DrillFacts): DrillRecord {
  const passed = drillPassed(facts);
  const rto = judge({
    objective: "RTO",
    targetMinutes: facts.system.dr.rtoMinutes,
    ...(passed && facts.validatedAt ? { measuredMs: facts.validatedAt.getTime() - facts.startedAt.getTime() } : {}),
    ...(passed ? {} : { note: "the drill failed: the system would not have been recovered" }),
  });
  const rpo = judge({
    objective: "RPO",
    targetMinutes: facts.system.dr.rpoMinutes,
    ...(facts.recoveryPoint && facts.recoveryPointUsable
      ? { measuredMs: facts.startedAt.getTime() - facts.recoveryPoint.getTime() }
      : {}),
    ...(facts.recoveryPointUsable ? {} : { note: "no usable recovery point: the newest backup did not restore" }),
  });
  const record: Omit<DrillRecord, "summary"> = {
    version: 1,
    drillId: facts.drillId,
    system: facts.system.id,
    database: facts.database,
    source: facts.source,
    outcome: passed ? "passed" : "failed",
    startedAt: facts.startedAt.toISOString(),
    finishedAt: facts.finishedAt.toISOString(),
    ...(rto.measuredMs !== undefined ? { restoreMs: rto.measuredMs } : {}),
    ...(facts.recoveryPoint ? { recoveryPoint: facts.recoveryPoint.toISOString() } : {}),
    rto,
    rpo,
    restoredFrom: facts.restoredFrom,
    scratch: facts.scratch,
    checks: facts.checks,
    cleanup: facts.cleanup,
    warnings: facts.warnings,
    restore: { ...(facts.restore ?? {}), ...(facts.failure ? { failure: facts.failure } : {}) },
  };
  return { ...record, summary: drillSummary(record) };
}

/** Puts a drill's numbers into a report: metrics, EMF series, details. */
export function addDrillToReport(report: ReportBuilder, record: DrillRecord): void {
  const db = record.database;
  const dims = { System: record.system, Database: db, Source: record.source };
  if (record.restoreMs !== undefined) {
    report.metric(`restoreMs.${db}`, record.restoreMs);
    report.series.push({
      name: "DrillRestoreSeconds",
      unit: "Seconds",
      value: record.restoreMs / 1000,
      dimensions: dims,
    });
  }
  if (record.rto.marginMs !== undefined) report.metric(`rtoMarginMs.${db}`, record.rto.marginMs);
  if (record.rpo.measuredMs !== undefined) {
    report.metric(`rpoMs.${db}`, record.rpo.measuredMs);
    report.series.push({
      name: "DrillRecoveryPointAgeSeconds",
      unit: "Seconds",
      value: record.rpo.measuredMs / 1000,
      dimensions: dims,
    });
  }
  if (record.rpo.marginMs !== undefined) report.metric(`rpoMarginMs.${db}`, record.rpo.marginMs);
  report.metric(`drillPassed.${db}`, record.outcome === "passed" ? 1 : 0);
  report.series.push({
    name: "DrillPassed",
    unit: "Count",
    value: record.outcome === "passed" ? 1 : 0,
    dimensions: dims,
  });
  const drills = (report.details.drills as DrillRecord[] | undefined) ?? [];
  drills.push(record);
  report.details.drills = drills;
}
