import { z } from "zod";
import { backupKmsReadPermissions, backupListPermissions, backupObjectArn } from "../../lib/iam.js";
import type { Database, System } from "../../systems/schema.js";
import { checkAllBackups } from "../backup/catalog.js";
import { forEachDatabase, selectDatabases } from "../databases.js";
import { ReportBuilder } from "../report.js";
import type { Runbook, RunbookContext } from "../types.js";
import { applyDeletion, type DeleteResult } from "./apply.js";
import { type PrunePlan, type PruneSnapshot, planPrune } from "./plan.js";
import { type PruneOutcome, plannedDeletes, reportPrune, summarize } from "./report.js";

const input = z.strictObject({
  /** Only this database (its catalogue id). */
  database: z.string().optional(),
});

/** The read step, the same in a dry run: every dump of the database, each manifest read and checked. */
async function readBackups(ctx: RunbookContext, database: Database, now: Date): Promise<PruneSnapshot> {
  const backup = ctx.system.backup;
  if (!backup) throw new Error(`internal: system "${ctx.system.id}" has no backup section`);
  const found = await checkAllBackups(ctx.clients.s3, {
    bucket: backup.bucket,
    prefix: backup.prefix,
    system: ctx.system.id,
    database: database.id,
    now,
  });
  return { ...found, database: database.id };
}

/** Carries out the plan's deletes; a dry run stops at the plan (this is the one place that says so). */
async function carryOut(ctx: RunbookContext, plan: PrunePlan): Promise<DeleteResult[]> {
  if (plan.kind === "stop") return [];
  if (ctx.dryRun) return plannedDeletes(plan);
  return applyDeletion(ctx.clients.s3, {
    bucket: ctx.system.backup?.bucket ?? "",
    remove: plan.remove,
    danglingManifests: plan.danglingManifests,
  });
}

/** One database: read (one clock reading for the whole database), plan, carry out, report. */
async function pruneDatabase(ctx: RunbookContext, report: ReportBuilder, database: Database): Promise<PruneOutcome> {
  const now = ctx.now();
  const plan = planPrune(await readBackups(ctx, database, now), ctx.system, now);
  const deletes = await carryOut(ctx, plan);
  return reportPrune(report, { system: ctx.system.id, plan, deletes, dryRun: ctx.dryRun });
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
    const { results, aborted } = await forEachDatabase(ctx, selectDatabases(system, options.database), {
      report,
      action: "prune",
      stopped: "remaining databases not pruned",
      work: (database) => pruneDatabase(ctx, report, database),
    });
    const outcomes = results.map(
      (r): PruneOutcome =>
        "value" in r
          ? r.value
          : {
              resource: `${system.id}/${r.database.id}`,
              failures: [r.error],
              deleted: 0,
              strays: 0,
              kept: 0,
              unverified: [],
            },
    );
    const failed = outcomes.some((o) => o.failures.length > 0);
    // Unverified dumps are a problem someone must look at while they persist: partial, not succeeded.
    const unverified = outcomes.some((o) => o.unverified.length > 0);
    // Keeping everything because nothing is due is a success, not a skip (an abort still makes it partial).
    const status = failed || aborted ? report.deriveStatus() : unverified ? "partial" : "succeeded";
    return report.finish({ summary: summarize(outcomes, ctx.dryRun), status });
  },
};
