import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { describeConnection } from "../../lib/postgres/connection.js";
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
import { scratchDatabasePrefix } from "../restore-drill/names.js";
import { type DrillTarget, DrillTargetError, resolveDrillTarget } from "../restore-drill/pg-drill.js";
import { type DrillInstance, deleteScratchInstance, listDrillInstances } from "../restore-drill/rds-instances.js";
import { rdsDrillPlanSchema } from "../restore-drill/rds-plan.js";
import { deleteObject, pendingClaimsPrefix, pendingPrefix, readJsonObject } from "../restore-drill/record.js";
import { defaultDeadlineMinutes, resolveDrillSettings } from "../restore-drill/settings.js";
import type { Runbook, RunbookContext } from "../types.js";
import { applyRemoval } from "./apply.js";
import {
  type InstanceVerdict,
  judgeCheckRole,
  judgeInstance,
  judgePendingObject,
  judgeScratchDatabase,
} from "./plan.js";

const input = z.strictObject({
  /** Look for scratch databases on the drill target (default: when the system drills pg_dump). */
  pg: booleanish.optional(),
  /** Look for scratch RDS instances (default: when the system drills RDS). */
  rds: booleanish.optional(),
  /** Continue an RDS drill whose instance is available but whose event never came. */
  continueAvailable: booleanish.default(true),
});

/** The drill targets of a system (each server once) and the databases with none, skipped with the reason. */
async function drillTargets(ctx: RunbookContext, report: ReportBuilder): Promise<DrillTarget[]> {
  const settings = resolveDrillSettings(ctx.system, {});
  const targets = new Map<string, DrillTarget>();
  for (const database of ctx.system.databases) {
    try {
      const target = await resolveDrillTarget(ctx, database, settings);
      const where = `${target.conn.host}:${target.conn.port}`;
      if (!targets.has(where)) targets.set(where, target);
    } catch (error) {
      if (!(error instanceof DrillTargetError)) throw error;
      // No drill target, no drill can have run: nothing of ours to look for (and never on production).
      report.add({
        resource: `${ctx.system.id}/${database.id}`,
        action: "sweep-databases",
        status: "skipped",
        reason: error.message,
      });
    }
  }
  return [...targets.values()];
}

/** A kept leftover's report line; the removed ones go through {@link applyRemoval}. */
function keep(report: ReportBuilder, resource: string, action: string, reason: string): void {
  report.add({ resource, action, status: "skipped", reason });
}

async function sweepDatabases(ctx: RunbookContext, report: ReportBuilder): Promise<void> {
  const { system } = ctx;
  const facts = {
    system: system.id,
    prefixes: system.databases.map((d) => scratchDatabasePrefix(system.id, d.id)),
    defaultDeadlineMinutes: defaultDeadlineMinutes(system),
    now: ctx.now(),
  };
  for (const target of await drillTargets(ctx, report)) {
    for (const scratch of await ctx.postgres.scratch.list(target.conn)) {
      const verdict = judgeScratchDatabase(scratch, facts);
      const resource = describeConnection({ ...target.conn, database: scratch.name });
      if (verdict.kind === "keep") keep(report, resource, "drop-scratch-database", verdict.reason);
      if (verdict.kind !== "remove") continue;
      await applyRemoval(ctx, report, {
        resource,
        action: "drop-scratch-database",
        reason: verdict.reason,
        remove: () => ctx.postgres.scratch.drop(target.conn, scratch.name),
      });
    }
    await sweepCheckRoles(ctx, report, target);
  }
}

/** Check roles a drill of this system left (its COMMENT names the system) once their deadline passed. */
async function sweepCheckRoles(ctx: RunbookContext, report: ReportBuilder, target: DrillTarget): Promise<void> {
  const now = ctx.now();
  for (const role of await ctx.postgres.checkRoles.list(target.conn)) {
    const verdict = judgeCheckRole(role, ctx.system.id, now);
    const resource = `check role of drill ${role.comment?.drillId} on ${target.conn.host}:${target.conn.port}`;
    if (verdict.kind === "keep") keep(report, resource, "drop-check-role", verdict.reason);
    if (verdict.kind !== "remove") continue;
    await applyRemoval(ctx, report, {
      resource,
      action: "drop-check-role",
      reason: verdict.reason,
      remove: () => ctx.postgres.checkRoles.drop(target.conn, role.name),
    });
  }
}

/** Deletes a scratch instance the plan gave up on; a timed-out drill is also recorded as failed. */
async function removeInstance(
  ctx: RunbookContext,
  report: ReportBuilder,
  drill: DrillInstance,
  verdict: Extract<InstanceVerdict, { kind: "remove" }>,
): Promise<void> {
  const resource = drill.instanceId;
  if (ctx.dryRun) {
    report.add({ resource, action: "delete-rds-instance", status: "would-do", reason: verdict.reason });
    return;
  }
  const cleanup = await deleteScratchInstance(ctx.clients.rds, drill.instanceId);
  report.add({
    resource,
    action: "delete-rds-instance",
    status: cleanup.status === "failed" ? "failed" : "done",
    reason: cleanup.reason ? `${verdict.reason}; ${cleanup.reason}` : verdict.reason,
  });
  if (!verdict.timedOut) return;
  await recordTimedOutDrill(
    ctx,
    report,
    { ...drill, ...(verdict.deadline ? { deadline: verdict.deadline } : {}) },
    cleanup.status === "failed" ? { status: "failed", reason: cleanup.reason ?? "" } : { status: cleanup.status },
  );
}

async function sweepInstance(
  ctx: RunbookContext,
  report: ReportBuilder,
  drill: DrillInstance,
  options: z.output<typeof input>,
): Promise<void> {
  const verdict = judgeInstance(drill, {
    defaultDeadlineMinutes: defaultDeadlineMinutes(ctx.system),
    continueAvailable: options.continueAvailable,
    now: ctx.now(),
  });
  const resource = drill.instanceId;
  switch (verdict.kind) {
    case "keep":
      return keep(report, resource, "delete-rds-instance", verdict.reason);
    case "refuse":
      report.add({ resource, action: "delete-rds-instance", status: "failed", reason: verdict.reason });
      return;
    case "continue":
      // RDS events are best effort: a drill whose "available" event was lost is continued here.
      await continueRdsDrill(ctx, report, { instanceId: drill.instanceId, by: "janitor" });
      return;
    case "remove":
      return removeInstance(ctx, report, drill, verdict);
  }
}

/** Every key under the system's pending prefix (plans and claims), page by page. */
async function* pendingKeys(ctx: RunbookContext, bucket: string): AsyncGenerator<string> {
  let token: string | undefined;
  do {
    const page = await ctx.clients.s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: pendingPrefix(ctx.system.id),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) yield object.Key ?? "";
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Pending plans whose drill is gone and whose deadline passed. */
async function sweepPlans(ctx: RunbookContext, report: ReportBuilder, live: Set<string>): Promise<void> {
  const bucket = ctx.system.backup?.bucket;
  if (!bucket) return;
  const s3 = ctx.clients.s3;
  const facts = { live, claimsPrefix: pendingClaimsPrefix(ctx.system.id), now: ctx.now() };
  for await (const key of pendingKeys(ctx, bucket)) {
    const plan = rdsDrillPlanSchema.safeParse(await readJsonObject(s3, bucket, key).catch(() => undefined));
    const action = judgePendingObject({ ...facts, key, plan: plan.success ? plan.data : undefined });
    if (!action) continue;
    await applyRemoval(ctx, report, {
      resource: `s3://${bucket}/${key}`,
      action,
      reason: "its drill is over",
      remove: () => deleteObject(s3, bucket, key),
    });
  }
}

/** Every scratch instance of the system, one at a time, stopping between them on abort; then stale plans. */
async function sweepRds(ctx: RunbookContext, report: ReportBuilder, options: z.output<typeof input>): Promise<void> {
  const drills = await listDrillInstances(ctx.clients.rds, ctx.system.id);
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
}

const REMOVALS = new Set(["drop-scratch-database", "delete-rds-instance", "drop-check-role"]);

/** The one line: failures first, else what was removed and what is still in progress. */
function janitorSummary(report: ReportBuilder, dryRun: boolean): string {
  const removed = report.actions.filter(
    (a) => REMOVALS.has(a.action) && (a.status === "done" || a.status === "would-do"),
  );
  const kept = report.actions.filter(
    (a) => a.status === "skipped" && a.action !== "stop" && a.action !== "sweep-databases",
  );
  const failed = report.actions.filter((a) => a.status === "failed");
  if (failed.length)
    return `janitor failures: ${foldText(failed.map((a) => `${a.resource}: ${a.reason}`).join("; "), 400)}`;
  if (removed.length) {
    const verb = dryRun ? "would remove" : "removed";
    return `${verb} ${plural(removed.length, "drill leftover")}: ${removed.map((a) => a.resource).join(", ")}${kept.length ? `; ${kept.length} in progress` : ""}`;
  }
  return kept.length ? `nothing past its deadline; ${plural(kept.length, "drill")} in progress` : "no drill leftovers";
}

/** Runs one sweep; a throw is that sweep's failure, reported on the system. */
async function sweep(report: ReportBuilder, resource: string, action: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    report.add({ resource, action, status: "failed", reason: errorMessage(error) });
  }
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
    if (system.databases.length === 0) {
      report.add({ resource: system.id, action: "sweep", status: "skipped", reason: "no databases" });
      return report.finish({ summary: "nothing to sweep" });
    }
    if (options.pg ?? !usesRds(system)) {
      await sweep(report, system.id, "sweep-databases", () => sweepDatabases(ctx, report));
    }
    if (options.rds ?? usesRds(system)) {
      await sweep(report, system.id, "sweep-instances", () => sweepRds(ctx, report, options));
    }
    const failed = report.actions.some((a) => a.status === "failed");
    return report.finish({
      summary: janitorSummary(report, ctx.dryRun),
      ...(failed ? {} : { status: "succeeded" as const }),
    });
  },
};
