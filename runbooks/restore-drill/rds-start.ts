import { RestoreDBInstanceFromDBSnapshotCommand, RestoreDBInstanceToPointInTimeCommand } from "@aws-sdk/client-rds";
import { errorMessage, errorName } from "../../lib/errors.js";
import type { Database } from "../../systems/schema.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import { describeInstance, listDrillInstances, newestSnapshot } from "./rds-instances.js";
import {
  planRdsStart,
  type RdsStartPlan,
  type RdsStartSnapshot,
  type RdsStartSteps,
  rdsDrillInFlight,
} from "./rds-plan.js";
import { deleteObject, pendingPlanKey, writeJsonObject } from "./record.js";
import type { DrillSettings } from "./settings.js";
import { rpoSourceWarning } from "./verdict.js";

/**
 * RDS drills (snapshot and point-in-time): start a restore into a tagged scratch instance and return;
 * continue when RDS says the instance is there (`drill-continue`), validate through SQL, delete the
 * instance without a final snapshot, whatever happened. No Lambda waits while RDS works. The decisions
 * are `rds-plan.ts`'s; this file reads for them and carries them out.
 */

/** Options of {@link startRdsDrill}. */
export interface StartRdsDrillOptions {
  source: "rds-pitr" | "rds-snapshot";
  settings: DrillSettings;
}

/** A restore RDS accepted: what the summary says of it (typed, not read back from the report). */
export interface StartedRdsDrill {
  instanceId: string;
  recoveryPointAgeSeconds: number;
}

/** Reads what {@link planRdsStart} decides from, stopping where a rule already decides. */
export async function readRdsStart(
  ctx: RunbookContext,
  database: Database,
  options: StartRdsDrillOptions & { now: Date },
): Promise<RdsStartSnapshot> {
  const { system } = ctx;
  const base: RdsStartSnapshot = {
    system: system.id,
    database: database.id,
    source: options.source,
    sourceId: database.rdsInstanceId,
    hasBucket: Boolean(system.backup),
    warnings: [rpoSourceWarning(system.dr)].filter((w): w is string => Boolean(w)),
  };
  if (!database.rdsInstanceId || !system.backup) return base;
  const rds = ctx.clients.rds;
  const drills = await listDrillInstances(rds, system.id);
  if (rdsDrillInFlight(drills, database.id, options.now)) return { ...base, drills };
  const sourceInstance = (await describeInstance(rds, database.rdsInstanceId)) ?? null;
  if (!sourceInstance) return { ...base, drills, sourceInstance };
  const snapshot =
    options.source === "rds-snapshot" ? ((await newestSnapshot(rds, database.rdsInstanceId)) ?? null) : undefined;
  return {
    ...base,
    drills,
    sourceInstance,
    ...(snapshot !== undefined ? { snapshot } : {}),
    stats: await readSourceStats(ctx, database, options.settings.tableLimit),
  };
}

/** The source's table statistics (the restored copy is compared with them), or why they are missing. */
async function readSourceStats(
  ctx: RunbookContext,
  database: Database,
  limit: number,
): Promise<NonNullable<RdsStartSnapshot["stats"]>> {
  try {
    return await ctx.postgres.tableStats(await ctx.postgres.resolve(database), limit);
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

/** A dry run, or the report lines of a plan that does not start. */
export function reportRdsStartPlan(report: ReportBuilder, plan: RdsStartPlan): void {
  if (plan.kind === "skip") {
    report.add({ resource: plan.resource, action: "restore-drill", status: plan.status, reason: plan.reason });
    return;
  }
  report.add({ resource: plan.instanceId, action: "restore-rds-instance", status: "would-do", after: plan.described });
  report.add({
    resource: plan.instanceId,
    action: "validate-and-delete",
    status: "would-do",
    reason: "on the RDS event that the instance is available",
  });
}

/** The restore request: point in time from the source, or from the snapshot. */
async function sendRestore(ctx: RunbookContext, steps: RdsStartSteps): Promise<void> {
  if (steps.source === "rds-pitr") {
    await ctx.clients.rds.send(
      new RestoreDBInstanceToPointInTimeCommand({
        SourceDBInstanceIdentifier: steps.sourceId,
        TargetDBInstanceIdentifier: steps.instanceId,
        RestoreTime: steps.recoveryPoint,
        ...steps.request,
      }),
    );
    return;
  }
  await ctx.clients.rds.send(
    new RestoreDBInstanceFromDBSnapshotCommand({
      DBInstanceIdentifier: steps.instanceId,
      DBSnapshotIdentifier: steps.snapshotId,
      ...steps.request,
    }),
  );
}

/**
 * Writes the pending plan, then asks RDS to restore. A duplicate request (the instance exists) is
 * skipped; any other refusal removes the plan again and fails. Returns the drill when RDS accepted it.
 */
export async function applyRdsStart(
  ctx: RunbookContext,
  report: ReportBuilder,
  steps: RdsStartSteps,
): Promise<StartedRdsDrill | undefined> {
  const backup = ctx.system.backup;
  if (!backup) return undefined;
  const planKey = pendingPlanKey(ctx.system.id, steps.instanceId);
  await writeJsonObject(ctx.clients.s3, {
    bucket: backup.bucket,
    key: planKey,
    value: steps.pending,
    ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
  });
  const resource = steps.instanceId;
  try {
    await sendRestore(ctx, steps);
  } catch (error) {
    if (errorName(error) === "DBInstanceAlreadyExistsFault") {
      report.add({
        resource,
        action: "restore-rds-instance",
        status: "skipped",
        reason: "already started (duplicate event)",
      });
      return undefined;
    }
    await deleteObject(ctx.clients.s3, backup.bucket, planKey).catch(() => {});
    report.add({ resource, action: "restore-rds-instance", status: "failed", reason: errorMessage(error) });
    return undefined;
  }
  report.add({ resource, action: "restore-rds-instance", status: "done", after: steps.described });
  report.details.pending = [
    ...((report.details.pending as unknown[]) ?? []),
    { drillId: steps.drillId, ...steps.described },
  ];
  return { instanceId: steps.instanceId, recoveryPointAgeSeconds: steps.described.recoveryPointAgeSeconds };
}

/**
 * Starts an RDS drill: checks that none is in flight, reads the recovery point (LatestRestorableTime,
 * or the newest snapshot), records the source's table statistics for validation, writes the plan and
 * asks RDS to restore into a small, private, tagged scratch instance. Returns at once.
 */
export async function startRdsDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  database: Database,
  options: StartRdsDrillOptions,
): Promise<StartedRdsDrill | undefined> {
  const now = ctx.now();
  const plan = planRdsStart(await readRdsStart(ctx, database, { ...options, now }), options.settings, now);
  if (plan.kind === "start") report.metric(`recoveryPointAgeMs.${database.id}`, plan.recoveryPointAgeMs);
  if (ctx.dryRun || plan.kind === "skip") {
    reportRdsStartPlan(report, plan);
    return undefined;
  }
  return applyRdsStart(ctx, report, plan);
}
