import { plural } from "../../lib/text.js";
import { MANIFEST_SUFFIX } from "../backup/layout.js";
import type { ReportBuilder } from "../report.js";
import type { DeleteResult } from "./apply.js";
import type { PrunePlan } from "./plan.js";

/** Keys listed by name in a report before the rest are only counted. */
const EXAMPLES = 3;

/** How one database's pruning ended: the typed result the summary is built from. */
export interface PruneOutcome {
  resource: string;
  /** Why pruning stopped, or a delete S3 refused, or what the database threw. */
  failures: string[];
  /** Dumps deleted (or that would be, in a dry run), each with its manifest. */
  deleted: number;
  /** Manifests deleted whose dump was already gone. */
  strays: number;
  /** Verified backups kept. */
  kept: number;
  /** Unverified dumps kept (and not counted). */
  unverified: string[];
}

/** Objects under the database's folder that are not in the layout: someone else's, never touched. */
function reportForeign(report: ReportBuilder, plan: PrunePlan): void {
  const { foreign } = plan;
  if (foreign.length === 0) return;
  const shown = foreign.slice(0, EXAMPLES).join(", ");
  report.add({
    resource: plan.resource,
    action: "ignore",
    status: "skipped",
    reason: `${plural(foreign.length, "object")} not in the layout <prefix>/<system>/<database>/YYYY/MM/DD/<timestamp>.dump left alone (${shown}${foreign.length > EXAMPLES ? ", ..." : ""})`,
  });
}

/** The counts, the foreign keys and the newest verified backup's age (for the freshness alarm). */
function reportFound(report: ReportBuilder, plan: PrunePlan, system: string): void {
  const { database, counts } = plan;
  report.metric(`backups.${database}`, counts.backups);
  report.metric(`verified.${database}`, counts.verified);
  report.metric(`unverified.${database}`, counts.unverified);
  report.metric(`future.${database}`, counts.future);
  reportForeign(report, plan);
  if (plan.ageSeconds === undefined) return;
  report.metric(`backupAgeSeconds.${database}`, plan.ageSeconds);
  report.series.push({
    name: "BackupAgeSeconds",
    unit: "Seconds",
    value: plan.ageSeconds,
    dimensions: { System: system, Database: database },
  });
}

/** A stopped plan: each reason `failed`, the unverified dumps listed; nothing deleted. */
function reportStopped(report: ReportBuilder, plan: Extract<PrunePlan, { kind: "stop" }>): PruneOutcome {
  for (const u of plan.unverified)
    report.add({ resource: u.key, action: "keep-unverified", status: "skipped", reason: u.reason });
  for (const stop of plan.stops) {
    report.add({
      resource: stop.resource,
      action: "prune",
      status: "failed",
      reason: stop.reason,
      ...(stop.before ? { before: stop.before } : {}),
    });
  }
  return {
    resource: plan.resource,
    failures: plan.stops.map((s) => s.reason),
    deleted: 0,
    strays: 0,
    kept: 0,
    unverified: plan.unverified.map((u) => u.key),
  };
}

/** The keys a dry run would delete, as the results of a run that deleted them. */
export function plannedDeletes(plan: Extract<PrunePlan, { kind: "prune" }>): DeleteResult[] {
  return [
    ...plan.remove.map((d): DeleteResult => ({ key: d.key, deleted: true, reason: d.reasons.join(", ") })),
    ...plan.danglingManifests.map(
      (m): DeleteResult => ({ key: m, deleted: true, reason: "manifest without its dump" }),
    ),
  ];
}

/** Options of {@link reportPrune}. */
export interface ReportPruneOptions {
  system: string;
  plan: PrunePlan;
  /** The deletes carried out, or planned (`dryRun`). */
  deletes: DeleteResult[];
  dryRun: boolean;
}

/** Reports one database: what was found, why it stopped or what was kept and why, and each delete. */
export function reportPrune(report: ReportBuilder, options: ReportPruneOptions): PruneOutcome {
  const { plan, deletes } = options;
  reportFound(report, plan, options.system);
  if (plan.kind === "stop") return reportStopped(report, plan);
  for (const d of plan.keep) {
    const action = d.state === "verified" ? "keep" : "keep-unverified";
    report.add({ resource: d.key, action, status: "skipped", reason: d.reasons.join(", ") });
  }
  report.metric(`kept.${plan.database}`, plan.keep.length);
  const status = options.dryRun ? "would-do" : "done";
  for (const r of deletes)
    report.add({ resource: r.key, action: "delete", status: r.deleted ? status : "failed", reason: r.reason });
  const gone = deletes.filter((r) => r.deleted);
  if (!options.dryRun) report.metric(`deleted.${plan.database}`, gone.length);
  const strays = gone.filter((r) => r.key.endsWith(MANIFEST_SUFFIX)).length;
  return {
    resource: plan.resource,
    failures: deletes.filter((r) => !r.deleted).map((r) => r.reason),
    deleted: gone.length - strays,
    strays,
    kept: plan.keep.filter((d) => d.state === "verified").length,
    unverified: plan.keep.filter((d) => d.state !== "verified").map((d) => d.key),
  };
}

/** One line for Slack, from the typed outcomes: what went, what stayed, and what is wrong. */
export function summarize(outcomes: PruneOutcome[], dryRun: boolean): string {
  const failures = outcomes.flatMap((o) => o.failures);
  if (failures.length) return `pruning stopped or failed: ${failures.join("; ").slice(0, 300)}`;
  const sum = (pick: (o: PruneOutcome) => number) => outcomes.reduce((n, o) => n + pick(o), 0);
  const strays = sum((o) => o.strays);
  const straysText = strays ? ` and ${plural(strays, "manifest")} without a dump` : "";
  const verb = dryRun ? "would delete" : "deleted";
  // Counted as backups (a dump and its manifest are one), stray manifests apart.
  const line = `${verb} ${plural(
    sum((o) => o.deleted),
    "backup",
  )}${straysText}, kept ${plural(
    sum((o) => o.kept),
    "backup",
  )}`;
  const unverified = outcomes.flatMap((o) => o.unverified);
  if (unverified.length === 0) return line;
  const shown = unverified.slice(0, EXAMPLES).join(", ");
  return `${line}; ${plural(unverified.length, "unverified dump")} kept and not counted (${shown}${unverified.length > EXAMPLES ? ", ..." : ""}): check the backup job`;
}
