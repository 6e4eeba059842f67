import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { dropCheckRole, listCheckRoles } from "../../lib/postgres/check-role.js";
import { describeConnection } from "../../lib/postgres/connection.js";
import { dropScratchDatabase, listScratchDatabases } from "../../lib/postgres/scratch.js";
import { foldText, plural } from "../../lib/text.js";
import type { System } from "../../systems/schema.js";
import { continueRdsDrill, recordTimedOutDrill } from "../drill-continue/rds-continue.js";
import { booleanish } from "../inputs.js";
import { ReportBuilder } from "../report.js";
import {
  drillRecordPermissions,
  pgDumpDrillPermissions,
  rdsCleanupPermissions,
  usesRds,
} from "../restore-drill/iam.js";
import { parseDrillTimestamp, scratchDatabasePrefix, startedAtFromName } from "../restore-drill/names.js";
import { type DrillTarget, DrillTargetError, JANITOR_GRACE_MS, resolveDrillTarget } from "../restore-drill/pg-drill.js";
import { type DrillInstance, deleteScratchInstance, listDrillInstances } from "../restore-drill/rds-instances.js";
import { rdsDrillPlanSchema } from "../restore-drill/rds-plan.js";
import { deleteObject, pendingClaimsPrefix, pendingPrefix, readJsonObject } from "../restore-drill/record.js";
import { defaultDeadlineMinutes, resolveDrillSettings } from "../restore-drill/settings.js";
import type { Runbook, RunbookContext } from "../types.js";

const input = z.strictObject({
  /** Look for scratch databases on the drill target (default: when the system drills pg_dump). */
  pg: booleanish.optional(),
  /** Look for scratch RDS instances (default: when the system drills RDS). */
  rds: booleanish.optional(),
  /** Continue an RDS drill whose instance is available but whose event never came. */
  continueAvailable: booleanish.default(true),
});

const CONNECTABLE = new Set(["available", "backing-up", "storage-optimization"]);

async function sweepDatabases(ctx: RunbookContext, report: ReportBuilder): Promise<void> {
  const { system } = ctx;
  const now = ctx.now();
  const settings = resolveDrillSettings(system, {});
  const seen = new Set<string>();
  for (const database of system.databases) {
    let target: DrillTarget;
    try {
      target = await resolveDrillTarget(ctx, database, settings);
    } catch (error) {
      if (!(error instanceof DrillTargetError)) throw error;
      // No drill target, no drill can have run: nothing of ours to look for (and never on production).
      report.add({
        resource: `${system.id}/${database.id}`,
        action: "sweep-databases",
        status: "skipped",
        reason: error.message,
      });
      continue;
    }
    const where = `${target.conn.host}:${target.conn.port}`;
    if (seen.has(where)) continue;
    seen.add(where);
    const prefixes = system.databases.map((d) => scratchDatabasePrefix(system.id, d.id));
    // No COMMENT: the drill died between CREATE DATABASE and COMMENT. Then only a name that is exactly
    // `drill_<system>_<database>_<hash>_<timestamp>` is ours: the hash is of this system's own ids, so
    // neither a look-alike (`..._reports`) nor another system's drill (`ims-2`/`main` for `ims`/`2-main`)
    // matches, and its timestamp says when it began. With a COMMENT, the COMMENT's system decides.
    const startedFromName = (name: string): Date | undefined =>
      prefixes.flatMap((p) => (name.startsWith(p) ? [parseDrillTimestamp(name.slice(p.length))] : [])).find(Boolean);
    for (const scratch of await listScratchDatabases(target.conn)) {
      const started = scratch.comment ? undefined : startedFromName(scratch.name);
      const ours = scratch.comment ? scratch.comment.system === system.id : started !== undefined;
      if (!ours) continue;
      const deadline = scratch.comment
        ? new Date(scratch.comment.deadline)
        : new Date((started?.getTime() ?? 0) + defaultDeadlineMinutes(system) * 60_000 + JANITOR_GRACE_MS);
      const resource = `${describeConnection({ ...target.conn, database: scratch.name })}`;
      if (deadline.getTime() > now.getTime()) {
        report.add({
          resource,
          action: "drop-scratch-database",
          status: "skipped",
          reason: `drill ${scratch.comment?.drillId ?? scratch.name} in progress until ${deadline.toISOString()}`,
        });
        continue;
      }
      const reason = `past its deadline ${deadline.toISOString()}${scratch.comment ? ` (drill ${scratch.comment.drillId})` : " (no COMMENT: deadline from its name)"}`;
      if (ctx.dryRun) {
        report.add({ resource, action: "drop-scratch-database", status: "would-do", reason });
        continue;
      }
      try {
        await dropScratchDatabase(target.conn, scratch.name);
        report.add({ resource, action: "drop-scratch-database", status: "done", reason });
      } catch (error) {
        report.add({
          resource,
          action: "drop-scratch-database",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    await sweepCheckRoles(ctx, report, target);
  }
}

/** Check roles a drill of this system left (its COMMENT names the system) once their deadline passed. */
async function sweepCheckRoles(ctx: RunbookContext, report: ReportBuilder, target: DrillTarget): Promise<void> {
  const now = ctx.now();
  for (const role of await listCheckRoles(target.conn)) {
    // Unlabelled roles cannot exist (role and COMMENT are one transaction); another system's are not ours.
    if (role.comment?.system !== ctx.system.id) continue;
    const resource = `check role of drill ${role.comment.drillId} on ${target.conn.host}:${target.conn.port}`;
    const deadline = new Date(role.comment.deadline);
    if (deadline.getTime() > now.getTime()) {
      report.add({
        resource,
        action: "drop-check-role",
        status: "skipped",
        reason: `in use until ${deadline.toISOString()}`,
      });
      continue;
    }
    const reason = `past its deadline ${deadline.toISOString()}`;
    if (ctx.dryRun) {
      report.add({ resource, action: "drop-check-role", status: "would-do", reason });
      continue;
    }
    try {
      await dropCheckRole(target.conn, role.name);
      report.add({ resource, action: "drop-check-role", status: "done", reason });
    } catch (error) {
      report.add({ resource, action: "drop-check-role", status: "failed", reason: errorMessage(error) });
    }
  }
}

async function sweepInstance(
  ctx: RunbookContext,
  report: ReportBuilder,
  drill: DrillInstance,
  options: z.output<typeof input>,
): Promise<void> {
  const now = ctx.now();
  const resource = drill.instanceId;
  if (drill.status === "deleting") {
    report.add({ resource, action: "delete-rds-instance", status: "skipped", reason: "already being deleted" });
    return;
  }
  const finished = drill.state === "passed" || drill.state === "failed";
  // Without its deadline tag, a drill's deadline is its start (tag, else identifier) plus the default.
  const started = drill.startedAt ?? startedAtFromName(drill.instanceId);
  const deadline =
    drill.deadline ?? (started ? new Date(started.getTime() + defaultDeadlineMinutes(ctx.system) * 60_000) : undefined);
  if (!finished && !deadline) {
    report.add({
      resource,
      action: "delete-rds-instance",
      status: "failed",
      reason: `drill ${drill.drillId} has no deadline or start time: not deleted, check it by hand`,
    });
    return;
  }
  const late = deadline !== undefined && deadline.getTime() <= now.getTime();
  if (!finished && !late) {
    if (options.continueAvailable && drill.state === "restoring" && CONNECTABLE.has(drill.status)) {
      // RDS events are best effort: a drill whose "available" event was lost is continued here.
      await continueRdsDrill(ctx, report, { instanceId: drill.instanceId, by: "janitor" });
      return;
    }
    report.add({
      resource,
      action: "delete-rds-instance",
      status: "skipped",
      reason: `drill ${drill.drillId} in progress (${drill.status}, ${drill.state}) until ${deadline?.toISOString()}`,
    });
    return;
  }
  const reason = finished
    ? `drill already ${drill.state}; its own deletion did not happen`
    : `past its deadline ${deadline?.toISOString()}${drill.deadline ? "" : " (no deadline tag: start + default)"} (${drill.status}, ${drill.state})`;
  if (ctx.dryRun) {
    report.add({ resource, action: "delete-rds-instance", status: "would-do", reason });
    return;
  }
  const cleanup = await deleteScratchInstance(ctx.clients.rds, drill.instanceId);
  report.add({
    resource,
    action: "delete-rds-instance",
    status: cleanup.status === "failed" ? "failed" : "done",
    reason: cleanup.reason ? `${reason}; ${cleanup.reason}` : reason,
  });
  if (!finished) {
    await recordTimedOutDrill(
      ctx,
      report,
      { ...drill, ...(deadline ? { deadline } : {}) },
      cleanup.status === "failed" ? { status: "failed", reason: cleanup.reason ?? "" } : { status: cleanup.status },
    );
  }
}

/** Pending plans whose drill is gone and whose deadline passed. */
async function sweepPlans(ctx: RunbookContext, report: ReportBuilder, live: Set<string>): Promise<void> {
  const bucket = ctx.system.backup?.bucket;
  if (!bucket) return;
  const now = ctx.now();
  const claimsPrefix = pendingClaimsPrefix(ctx.system.id);
  let token: string | undefined;
  do {
    const page = await ctx.clients.s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: pendingPrefix(ctx.system.id),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? "";
      const plan = rdsDrillPlanSchema.safeParse(
        await readJsonObject(ctx.clients.s3, bucket, key).catch(() => undefined),
      );
      const instanceId = plan.success
        ? plan.data.instanceId
        : key.slice(key.lastIndexOf("/") + 1).replace(/\.json$/, "");
      const deadline = plan.success ? new Date(plan.data.deadline) : undefined;
      if (live.has(instanceId) || (deadline && deadline.getTime() > now.getTime())) continue;
      // Claims sit beside the plans (`pending/claims/`): the same rule removes them, under their own name.
      const action = key.startsWith(claimsPrefix) ? "delete-drill-claim" : "delete-drill-plan";
      if (ctx.dryRun) {
        report.add({ resource: `s3://${bucket}/${key}`, action, status: "would-do" });
        continue;
      }
      await deleteObject(ctx.clients.s3, bucket, key);
      report.add({ resource: `s3://${bucket}/${key}`, action, status: "done", reason: "its drill is over" });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/**
 * Removes what drills left behind: scratch databases past their deadline (also those a crash left, found
 * by name and COMMENT), scratch RDS instances past their deadline or already judged, and stale plans.
 * Continues an RDS drill whose "available" event never arrived.
 */
export const drillJanitorRunbook: Runbook<typeof input> = {
  name: "drill-janitor",
  description:
    "remove drill scratch databases and RDS instances past their deadline (left by crashed or timed-out drills)",
  destructive: true,
  input,
  timeoutSeconds: 900,
  permissions(system: System) {
    return usesRds(system)
      ? [...rdsCleanupPermissions(system), ...drillRecordPermissions(system)]
      : pgDumpDrillPermissions(system);
  },
  async run(ctx, options) {
    const report = new ReportBuilder(ctx, "drill-janitor");
    const { system } = ctx;
    const doPg = options.pg ?? !usesRds(system);
    const doRds = options.rds ?? usesRds(system);
    if (system.databases.length === 0) {
      report.add({ resource: system.id, action: "sweep", status: "skipped", reason: "no databases" });
      return report.finish({ summary: "nothing to sweep" });
    }
    if (doPg) {
      try {
        await sweepDatabases(ctx, report);
      } catch (error) {
        report.add({
          resource: system.id,
          action: "sweep-databases",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    if (doRds) {
      try {
        const drills = await listDrillInstances(ctx.clients.rds, system.id);
        for (const drill of drills) {
          if (ctx.signal?.aborted) {
            report.markAborted("stopped before the deadline; remaining instances left for the next run");
            break;
          }
          try {
            await sweepInstance(ctx, report, drill, options);
          } catch (error) {
            report.add({
              resource: drill.instanceId,
              action: "delete-rds-instance",
              status: "failed",
              reason: errorMessage(error),
            });
          }
        }
        await sweepPlans(ctx, report, new Set(drills.map((d) => d.instanceId)));
      } catch (error) {
        report.add({
          resource: system.id,
          action: "sweep-instances",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    const removed = report.actions.filter(
      (a) =>
        (a.action === "drop-scratch-database" ||
          a.action === "delete-rds-instance" ||
          a.action === "drop-check-role") &&
        (a.status === "done" || a.status === "would-do"),
    );
    const kept = report.actions.filter(
      (a) => a.status === "skipped" && a.action !== "stop" && a.action !== "sweep-databases",
    );
    const failed = report.actions.filter((a) => a.status === "failed");
    const verb = ctx.dryRun ? "would remove" : "removed";
    const summary = failed.length
      ? `janitor failures: ${foldText(failed.map((a) => `${a.resource}: ${a.reason}`).join("; "), 400)}`
      : removed.length
        ? `${verb} ${plural(removed.length, "drill leftover")}: ${removed.map((a) => a.resource).join(", ")}${kept.length ? `; ${kept.length} in progress` : ""}`
        : kept.length
          ? `nothing past its deadline; ${plural(kept.length, "drill")} in progress`
          : "no drill leftovers";
    return report.finish({ summary, ...(failed.length === 0 ? { status: "succeeded" as const } : {}) });
  },
};
