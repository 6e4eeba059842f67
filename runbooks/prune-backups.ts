import { z } from "zod";
import { checkAllBackups, describeSpan } from "../lib/backup/catalog.js";
import { deleteBackups } from "../lib/backup/delete-backups.js";
import { decideRetention, type RetentionDecision } from "../lib/backup/retention.js";
import { errorMessage } from "../lib/errors.js";
import { backupKmsReadPermissions, backupListPermissions, backupObjectArn } from "../lib/iam.js";
import { plural } from "../lib/text.js";
import { backupMaxAgeMinutes, type Database, type System } from "../systems/schema.js";
import { selectDatabases } from "./databases.js";
import { ReportBuilder } from "./report.js";
import type { Runbook, RunbookContext } from "./types.js";

const input = z.strictObject({
  /** Only this database (its catalogue id). */
  database: z.string().optional(),
});

/** Keys listed by name in a report before the rest are only counted. */
const EXAMPLES = 3;

/** What was found, and the moment it was judged at (one clock reading for the whole database). */
type Checked = Awaited<ReturnType<typeof checkAllBackups>> & { now: Date };

/** Objects under the database's folder that are not in the layout: someone else's, never touched. */
function reportForeign(report: ReportBuilder, resource: string, foreign: string[]): void {
  if (foreign.length === 0) return;
  const shown = foreign.slice(0, EXAMPLES).join(", ");
  report.add({
    resource,
    action: "ignore",
    status: "skipped",
    reason: `${plural(foreign.length, "object")} not in the layout <prefix>/<system>/<database>/YYYY/MM/DD/<timestamp>.dump left alone (${shown}${foreign.length > EXAMPLES ? ", ..." : ""})`,
  });
}

/** The newest verified backup's age, for the freshness alarm; never negative (a few seconds of skew). */
function publishAge(ctx: RunbookContext, report: ReportBuilder, database: Database, listing: Checked): void {
  if (!listing.newest) return;
  const ageMs = Math.max(0, listing.now.getTime() - listing.newest.backup.takenAt.getTime());
  report.metric(`backupAgeSeconds.${database.id}`, Math.round(ageMs / 1000));
  report.series.push({
    name: "BackupAgeSeconds",
    unit: "Seconds",
    value: Math.round(ageMs / 1000),
    dimensions: { System: ctx.system.id, Database: database.id },
  });
}

function countStates(report: ReportBuilder, database: Database, listing: Checked): void {
  const count = (state: string) => listing.checked.filter((b) => b.check.state === state).length;
  report.metric(`backups.${database.id}`, listing.backups.length);
  report.metric(`verified.${database.id}`, count("verified"));
  report.metric(`unverified.${database.id}`, count("no-manifest") + count("bad-manifest"));
  report.metric(`future.${database.id}`, count("future"));
}

/** Unverified dumps, each with why, when no retention decision is made (no verified backup at all). */
function listUnverified(report: ReportBuilder, listing: Checked): void {
  for (const b of listing.checked) {
    if (b.check.state === "no-manifest" || b.check.state === "bad-manifest")
      report.add({
        resource: b.key,
        action: "keep-unverified",
        status: "skipped",
        reason: `unverified (${b.check.reason})`,
      });
  }
}

/**
 * The checks that stop pruning of one database before retention decides: a dump dated in the future,
 * no verified backup, a newest verified backup past the limit. Each fails the database; true when one did.
 */
function stopsPruning(ctx: RunbookContext, report: ReportBuilder, database: Database, listing: Checked): boolean {
  const resource = `${ctx.system.id}/${database.id}`;
  const future = listing.checked.flatMap((b) => (b.check.state === "future" ? [{ ...b, why: b.check.reason }] : []));
  for (const b of future) {
    report.add({
      resource: b.key,
      action: "prune",
      status: "failed",
      reason: `${b.why}: a clock is wrong (here or where it was written); not counted as the newest, nothing deleted until it is explained`,
    });
  }
  if (future.length > 0) return true;
  const { newest } = listing;
  if (!newest) {
    listUnverified(report, listing);
    report.add({
      resource,
      action: "prune",
      status: "failed",
      reason: `no verified backup among ${plural(listing.backups.length, "dump")}: nothing deleted; check the backup job`,
    });
    return true;
  }
  const ageMs = Math.max(0, listing.now.getTime() - newest.backup.takenAt.getTime());
  const maxAgeMs = backupMaxAgeMinutes(ctx.system) * 60_000;
  if (ageMs <= maxAgeMs) return false;
  report.add({
    resource,
    action: "prune",
    status: "failed",
    reason: `newest verified backup is ${describeSpan(ageMs)} old, older than the ${describeSpan(maxAgeMs)} limit: nothing deleted; check the backup job`,
    before: { newest: newest.backup.key },
  });
  return true;
}

async function pruneDatabase(ctx: RunbookContext, report: ReportBuilder, database: Database): Promise<void> {
  const { system } = ctx;
  const backup = system.backup;
  if (!backup) return;
  const resource = `${system.id}/${database.id}`;
  const s3 = ctx.clients.s3;
  const now = ctx.now();
  const found = await checkAllBackups(s3, {
    bucket: backup.bucket,
    prefix: backup.prefix,
    system: system.id,
    database: database.id,
    now,
  });
  const listing = { ...found, now };
  countStates(report, database, listing);
  reportForeign(report, resource, listing.foreign);
  publishAge(ctx, report, database, listing);
  if (stopsPruning(ctx, report, database, listing)) return;
  const decisions = decideRetention(listing.checked, { policy: backup.retention, timezone: system.timezone, now });
  const doomed = decisions.filter((d) => !d.keep);
  for (const d of decisions.filter((x) => x.keep)) {
    const action = d.state === "verified" ? "keep" : "keep-unverified";
    report.add({ resource: d.key, action, status: "skipped", reason: d.reasons.join(", ") });
  }
  report.metric(`kept.${database.id}`, decisions.length - doomed.length);
  await deleteDoomed(ctx, report, { database, doomed, danglingManifests: listing.danglingManifests });
}

async function deleteDoomed(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: { database: Database; doomed: RetentionDecision[]; danglingManifests: string[] },
): Promise<void> {
  const { doomed, danglingManifests } = options;
  const bucket = ctx.system.backup?.bucket ?? "";
  if (ctx.dryRun) {
    for (const d of doomed)
      report.add({ resource: d.key, action: "delete", status: "would-do", reason: d.reasons.join(", ") });
    for (const m of danglingManifests)
      report.add({ resource: m, action: "delete", status: "would-do", reason: "manifest without its dump" });
    return;
  }
  const { outcomes, deleted } = await deleteBackups(ctx.clients.s3, { bucket, doomed, danglingManifests });
  for (const o of outcomes) report.add({ action: "delete", ...o });
  report.metric(`deleted.${options.database.id}`, deleted);
}

/** One line for Slack: what went, what stayed, and what is wrong. */
function summarize(ctx: RunbookContext, report: ReportBuilder): string {
  const deletes = report.actions.filter(
    (a) => a.action === "delete" && (a.status === "done" || a.status === "would-do"),
  );
  const kept = report.actions.filter((a) => a.action === "keep").length;
  const unverified = report.actions.filter((a) => a.action === "keep-unverified");
  const failed = report.actions.filter((a) => a.status === "failed");
  if (failed.length)
    return `pruning stopped or failed: ${failed
      .map((a) => a.reason)
      .join("; ")
      .slice(0, 300)}`;
  const verb = ctx.dryRun ? "would delete" : "deleted";
  // Counted as backups (a dump and its manifest are one), stray manifests apart.
  const strays = deletes.filter((a) => a.resource.endsWith(".manifest.json")).length;
  const straysText = strays ? ` and ${plural(strays, "manifest")} without a dump` : "";
  const line = `${verb} ${plural(deletes.length - strays, "backup")}${straysText}, kept ${plural(kept, "backup")}`;
  if (unverified.length === 0) return line;
  const shown = unverified
    .slice(0, EXAMPLES)
    .map((a) => a.resource)
    .join(", ");
  return `${line}; ${plural(unverified.length, "unverified dump")} kept and not counted (${shown}${unverified.length > EXAMPLES ? ", ..." : ""}): check the backup job`;
}

/** Retention: keep-daily/weekly/monthly per system; never the newest verified; nothing when stale. */
export const pruneBackupsRunbook: Runbook<typeof input> = {
  name: "prune-backups",
  description: "apply backup retention (daily/weekly/monthly), never the newest verified; publish backup age",
  destructive: true,
  input,
  validate(system, options) {
    selectDatabases(system, options.database);
  },
  permissions(system: System) {
    if (!system.backup) return [];
    return [
      ...backupListPermissions(system),
      { actions: ["s3:GetObject", "s3:DeleteObject"], resources: [backupObjectArn(system)] },
      // Manifests of SSE-KMS backups are encrypted with the key too: reading them needs Decrypt.
      ...backupKmsReadPermissions(system),
    ];
  },
  async run(ctx, options) {
    const report = new ReportBuilder(ctx, "prune-backups");
    const { system } = ctx;
    if (!system.backup) {
      report.add({
        resource: system.id,
        action: "prune",
        status: "skipped",
        reason: "no backup section in the catalogue",
      });
      return report.finish({ summary: "nothing to prune" });
    }
    const databases = selectDatabases(system, options.database);
    for (const database of databases) {
      try {
        await pruneDatabase(ctx, report, database);
      } catch (error) {
        report.add({
          resource: `${system.id}/${database.id}`,
          action: "prune",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    const failed = report.actions.some((a) => a.status === "failed");
    // Unverified dumps are a problem someone must look at while they persist: partial, not succeeded.
    const unverified = report.actions.some((a) => a.action === "keep-unverified");
    // Keeping everything because nothing is due is a success, not a skip.
    const status = failed ? report.deriveStatus() : unverified ? "partial" : "succeeded";
    return report.finish({ summary: summarize(ctx, report), status });
  },
};
