import {
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type Tag,
} from "@aws-sdk/client-rds";
import { errorMessage, errorName } from "../../lib/errors.js";
import { type Expectations, readTableStats } from "../../lib/postgres/checks.js";
import { resolveConnection } from "../../lib/postgres/connection.js";
import type { Database } from "../../systems/schema.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import { DRILL_TAGS, drillId, scratchInstanceId } from "./names.js";
import { describeInstance, listDrillInstances, newestSnapshot } from "./rds-instances.js";
import type { RdsDrillPlan } from "./rds-plan.js";
import { deleteObject, pendingPlanKey, writeJsonObject } from "./record.js";
import type { DrillSettings } from "./settings.js";
import { rpoSourceWarning } from "./verdict.js";

/**
 * RDS drills (snapshot and point-in-time): start a restore into a tagged scratch instance and return;
 * continue when RDS says the instance is there (`drill-continue`), validate through SQL, delete the
 * instance without a final snapshot, whatever happened. No Lambda waits while RDS works.
 */

/** Options of {@link startRdsDrill}. */
export interface StartRdsDrillOptions {
  source: "rds-pitr" | "rds-snapshot";
  settings: DrillSettings;
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
): Promise<void> {
  const { system } = ctx;
  const { settings, source } = options;
  const resource = `${system.id}/${database.id}`;
  const backup = system.backup;
  const sourceId = database.rdsInstanceId;
  if (!sourceId) {
    report.add({ resource, action: "restore-drill", status: "skipped", reason: "no rdsInstanceId in the catalogue" });
    return;
  }
  if (!backup) {
    report.add({
      resource,
      action: "restore-drill",
      status: "failed",
      reason: "drill records are kept in the backup bucket: the catalogue has no backup section",
    });
    return;
  }
  const rds = ctx.clients.rds;
  const startedAt = ctx.now();
  const id = drillId(system.id, database.id, startedAt);
  const instanceId = scratchInstanceId(system.id, database.id, startedAt);

  const inFlight = (await listDrillInstances(rds, system.id)).find(
    (d) =>
      d.database === database.id &&
      d.status !== "deleting" &&
      (d.state === "restoring" || d.state.startsWith("validating")) &&
      (d.deadline?.getTime() ?? 0) > startedAt.getTime(),
  );
  if (inFlight) {
    report.add({
      resource,
      action: "restore-drill",
      status: "skipped",
      reason: `drill ${inFlight.drillId} is in progress (instance ${inFlight.instanceId}, ${inFlight.status}, deadline ${inFlight.deadline?.toISOString()})`,
    });
    return;
  }

  const src = await describeInstance(rds, sourceId);
  if (!src) {
    report.add({
      resource: sourceId,
      action: "restore-drill",
      status: "failed",
      reason: "source DB instance not found",
    });
    return;
  }
  let recoveryPoint: Date | undefined;
  let snapshotId: string | undefined;
  if (source === "rds-pitr") {
    recoveryPoint = src.LatestRestorableTime;
    if (!recoveryPoint) {
      report.add({
        resource: sourceId,
        action: "restore-drill",
        status: "failed",
        reason:
          "the source has no LatestRestorableTime: automated backups are off (BackupRetentionPeriod 0), so point-in-time restore is impossible",
      });
      return;
    }
  } else {
    const snapshot = await newestSnapshot(rds, sourceId);
    if (!snapshot?.DBSnapshotIdentifier || !snapshot.SnapshotCreateTime) {
      report.add({
        resource: sourceId,
        action: "restore-drill",
        status: "failed",
        reason: "no available snapshot of the source",
      });
      return;
    }
    snapshotId = snapshot.DBSnapshotIdentifier;
    recoveryPoint = snapshot.SnapshotCreateTime;
  }

  const warnings = [rpoSourceWarning(system.dr)].filter((w): w is string => Boolean(w));
  let stats: { tableCount: number; tables: Expectations["tables"] } | undefined;
  try {
    const conn = await resolveConnection({ database, secrets: ctx.clients.secrets, env: ctx.env });
    stats = await readTableStats(conn, settings.tableLimit);
  } catch (error) {
    warnings.push(`source statistics unavailable (${errorMessage(error)}): table and row counts will not be compared`);
  }

  const deadline = new Date(startedAt.getTime() + settings.deadlineMinutes * 60_000);
  const subnetGroup = settings.subnetGroup ?? src.DBSubnetGroup?.DBSubnetGroupName;
  const securityGroups = settings.securityGroupIds.length
    ? settings.securityGroupIds
    : (src.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : []));
  const tags: Tag[] = [
    { Key: DRILL_TAGS.drillId, Value: id },
    { Key: DRILL_TAGS.system, Value: system.id },
    { Key: DRILL_TAGS.database, Value: database.id },
    { Key: DRILL_TAGS.source, Value: source },
    { Key: DRILL_TAGS.startedAt, Value: startedAt.toISOString() },
    { Key: DRILL_TAGS.deadline, Value: deadline.toISOString() },
    { Key: DRILL_TAGS.state, Value: "restoring" },
    { Key: DRILL_TAGS.recoveryPoint, Value: recoveryPoint.toISOString() },
    { Key: DRILL_TAGS.sourceInstance, Value: sourceId },
    ...(snapshotId ? [{ Key: DRILL_TAGS.snapshot, Value: snapshotId.replace(/[^\w.:/=+\-@ ]/g, "_") }] : []),
  ];
  const common = {
    DBInstanceClass: settings.instanceClass,
    MultiAZ: false,
    PubliclyAccessible: false,
    AutoMinorVersionUpgrade: false,
    DeletionProtection: false,
    CopyTagsToSnapshot: false,
    // No automated backups of a copy that lives an hour: available sooner, nothing left behind.
    BackupRetentionPeriod: 0,
    ...(subnetGroup ? { DBSubnetGroupName: subnetGroup } : {}),
    ...(securityGroups.length ? { VpcSecurityGroupIds: securityGroups } : {}),
    Tags: tags,
  };
  const plan: RdsDrillPlan = {
    version: 1,
    drillId: id,
    system: system.id,
    database: database.id,
    instanceId,
    source,
    sourceInstance: sourceId,
    ...(snapshotId ? { snapshot: snapshotId } : {}),
    startedAt: startedAt.toISOString(),
    deadline: deadline.toISOString(),
    recoveryPoint: recoveryPoint.toISOString(),
    ...(stats ? { tableCount: stats.tableCount } : {}),
    tables: stats?.tables ?? [],
    rowTolerancePercent: settings.rowTolerancePercent,
    warnings,
  };
  const described = {
    instance: instanceId,
    from: snapshotId
      ? `snapshot ${snapshotId}`
      : `${sourceId} at ${recoveryPoint.toISOString()} (latest restorable time)`,
    class: settings.instanceClass,
    subnetGroup: subnetGroup ?? "(default VPC)",
    securityGroups,
    deadline: deadline.toISOString(),
    recoveryPointAgeSeconds: Math.round((startedAt.getTime() - recoveryPoint.getTime()) / 1000),
  };
  report.metric(`recoveryPointAgeMs.${database.id}`, startedAt.getTime() - recoveryPoint.getTime());
  if (ctx.dryRun) {
    report.add({ resource: instanceId, action: "restore-rds-instance", status: "would-do", after: described });
    report.add({
      resource: instanceId,
      action: "validate-and-delete",
      status: "would-do",
      reason: "on the RDS event that the instance is available",
    });
    return;
  }

  const planKey = pendingPlanKey(system.id, instanceId);
  await writeJsonObject(ctx.clients.s3, {
    bucket: backup.bucket,
    key: planKey,
    value: plan,
    ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
  });
  try {
    if (source === "rds-pitr") {
      await rds.send(
        new RestoreDBInstanceToPointInTimeCommand({
          SourceDBInstanceIdentifier: sourceId,
          TargetDBInstanceIdentifier: instanceId,
          RestoreTime: recoveryPoint,
          ...common,
        }),
      );
    } else {
      await rds.send(
        new RestoreDBInstanceFromDBSnapshotCommand({
          DBInstanceIdentifier: instanceId,
          DBSnapshotIdentifier: snapshotId,
          ...common,
        }),
      );
    }
  } catch (error) {
    if (errorName(error) === "DBInstanceAlreadyExistsFault") {
      report.add({
        resource: instanceId,
        action: "restore-rds-instance",
        status: "skipped",
        reason: "already started (duplicate event)",
      });
      return;
    }
    await deleteObject(ctx.clients.s3, backup.bucket, planKey).catch(() => {});
    report.add({
      resource: instanceId,
      action: "restore-rds-instance",
      status: "failed",
      reason: errorMessage(error),
    });
    return;
  }
  report.add({ resource: instanceId, action: "restore-rds-instance", status: "done", after: described });
  report.details.pending = [...((report.details.pending as unknown[]) ?? []), { drillId: id, ...described }];
}
