import { DeleteObjectsCommand } from "@aws-sdk/client-s3";
import { z } from "zod";
import { inspectBackups } from "../lib/backup/catalog.js";
import { decideRetention } from "../lib/backup/retention.js";
import { errorMessage } from "../lib/errors.js";
import { backupKmsReadPermissions, backupListPermissions, backupObjectArn } from "../lib/iam.js";
import { redactText } from "../lib/redact.js";
import { backupMaxAgeMinutes, type Database, type System } from "../systems/schema.js";
import { ReportBuilder } from "./report.js";
import type { Runbook, RunbookContext } from "./types.js";

const input = z.strictObject({
  /** Only this database (its catalogue id). */
  database: z.string().optional(),
});

/** DeleteObjects takes at most 1000 keys a call. */
const DELETE_BATCH = 1000;

function age(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes >= 120 ? `${(minutes / 60).toFixed(1)} h` : `${minutes} min`;
}

async function pruneDatabase(ctx: RunbookContext, report: ReportBuilder, database: Database): Promise<void> {
  const { system } = ctx;
  const backup = system.backup;
  if (!backup) return;
  const resource = `${system.id}/${database.id}`;
  const s3 = ctx.clients.s3;
  const listing = await inspectBackups(s3, {
    bucket: backup.bucket,
    prefix: backup.prefix,
    system: system.id,
    database: database.id,
  });
  const { newest } = listing;
  const now = ctx.now();
  const maxAgeMs = backupMaxAgeMinutes(system) * 60_000;
  report.metric(`backups.${database.id}`, listing.backups.length);
  if (!newest) {
    report.add({
      resource,
      action: "prune",
      status: "failed",
      reason: `no verified backup among ${listing.backups.length} object(s): nothing deleted; check the backup job`,
    });
    return;
  }
  const ageMs = now.getTime() - newest.backup.takenAt.getTime();
  report.metric(`backupAgeSeconds.${database.id}`, Math.round(ageMs / 1000));
  report.series.push({
    name: "BackupAgeSeconds",
    unit: "Seconds",
    value: Math.round(ageMs / 1000),
    dimensions: { System: system.id, Database: database.id },
  });
  if (ageMs > maxAgeMs) {
    report.add({
      resource,
      action: "prune",
      status: "failed",
      reason: `newest verified backup is ${age(ageMs)} old, older than the ${age(maxAgeMs)} limit: nothing deleted; check the backup job`,
      before: { newest: newest.backup.key },
    });
    return;
  }
  const decisions = decideRetention(listing.backups, {
    policy: backup.retention,
    timezone: system.timezone,
    now,
    newestVerifiedKey: newest.backup.key,
  });
  const doomed = decisions.filter((d) => !d.keep);
  for (const d of decisions.filter((x) => x.keep)) {
    report.add({ resource: d.key, action: "keep", status: "skipped", reason: d.reasons.join(", ") });
  }
  const objects = [
    ...doomed.flatMap((d) => [d.key, ...(d.manifestKey ? [d.manifestKey] : [])]),
    ...listing.danglingManifests,
  ];
  report.metric(`kept.${database.id}`, decisions.length - doomed.length);
  if (ctx.dryRun) {
    for (const d of doomed)
      report.add({ resource: d.key, action: "delete", status: "would-do", reason: d.reasons.join(", ") });
    for (const m of listing.danglingManifests)
      report.add({ resource: m, action: "delete", status: "would-do", reason: "manifest without its dump" });
    return;
  }
  const reasons = new Map(doomed.map((d) => [d.key, d.reasons.join(", ")]));
  let deleted = 0;
  for (let i = 0; i < objects.length; i += DELETE_BATCH) {
    const batch = objects.slice(i, i + DELETE_BATCH);
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: backup.bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = new Map((result.Errors ?? []).map((e) => [e.Key ?? "", `${e.Code}: ${e.Message}`]));
    for (const key of batch) {
      const error = failed.get(key);
      if (error) report.add({ resource: key, action: "delete", status: "failed", reason: error });
      else if (!key.endsWith(".manifest.json") || listing.danglingManifests.includes(key)) {
        deleted++;
        report.add({
          resource: key,
          action: "delete",
          status: "done",
          reason: reasons.get(key) ?? "manifest without its dump",
        });
      }
    }
  }
  report.metric(`deleted.${database.id}`, deleted);
}

/** Retention: keep-daily/weekly/monthly per system; never the newest verified; nothing when stale. */
export const pruneBackupsRunbook: Runbook<typeof input> = {
  name: "prune-backups",
  description: "apply backup retention (daily/weekly/monthly), never the newest verified; publish backup age",
  destructive: true,
  input,
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
    const databases = options.database ? system.databases.filter((d) => d.id === options.database) : system.databases;
    for (const database of databases) {
      try {
        await pruneDatabase(ctx, report, database);
      } catch (error) {
        report.add({
          resource: `${system.id}/${database.id}`,
          action: "prune",
          status: "failed",
          reason: redactText(errorMessage(error)),
        });
      }
    }
    const deletes = report.actions.filter(
      (a) => a.action === "delete" && (a.status === "done" || a.status === "would-do"),
    );
    const kept = report.actions.filter((a) => a.action === "keep").length;
    const failed = report.actions.filter((a) => a.status === "failed");
    const verb = ctx.dryRun ? "would delete" : "deleted";
    const summary = failed.length
      ? `pruning stopped or failed: ${failed
          .map((a) => a.reason)
          .join("; ")
          .slice(0, 300)}`
      : `${verb} ${deletes.length} object(s), kept ${kept} backup(s)`;
    // Keeping everything because nothing is due is a success, not a skip.
    return report.finish({ summary, ...(failed.length === 0 ? { status: "succeeded" as const } : {}) });
  },
};
