import { randomUUID } from "node:crypto";
import {
  AddTagsToResourceCommand,
  type DBInstance,
  type DBSnapshot,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ListTagsForResourceCommand,
  type RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  type Tag,
} from "@aws-sdk/client-rds";
import { z } from "zod";
import type { ReportBuilder } from "../../runbooks/report.js";
import type { RunbookContext } from "../../runbooks/types.js";
import type { Database } from "../../systems/schema.js";
import { errorMessage } from "../errors.js";
import { type PgConnection, resolveConnection } from "../postgres/connection.js";
import { redactText } from "../redact.js";
import {
  type CheckResult,
  customCheckSchema,
  type Expectations,
  readTableStats,
  validateRestored,
  validationOutcome,
} from "./checks.js";
import { DRILL_TAGS, drillId, SCRATCH_INSTANCE_PREFIX, scratchInstanceId, tagMap } from "./names.js";
import { addDrillToReport, buildDrillRecord, type DrillFacts } from "./outcome.js";
import {
  claimKey,
  type DrillRecord,
  deleteObject,
  pendingPlanKey,
  readJsonObject,
  saveDrillRecord,
  writeJsonObject,
} from "./record.js";
import type { DrillSettings } from "./settings.js";
import { rpoSourceWarning } from "./verdict.js";

/**
 * RDS drills (snapshot and point-in-time): start a restore into a tagged scratch instance and return;
 * continue when RDS says the instance is there (`drill-continue`), validate through SQL, delete the
 * instance without a final snapshot, whatever happened. No Lambda waits while RDS works.
 */

/** Statuses in which the instance accepts connections. */
const CONNECTABLE = new Set([
  "available",
  "backing-up",
  "storage-optimization",
  "configuring-enhanced-monitoring",
  "configuring-log-exports",
  "configuring-iam-database-auth",
]);

/** Statuses from which a restore will never become usable. */
const BROKEN = new Set([
  "failed",
  "incompatible-restore",
  "incompatible-parameters",
  "incompatible-network",
  "incompatible-option-group",
  "restore-error",
  "inaccessible-encryption-credentials",
  "inaccessible-encryption-credentials-recoverable",
  "storage-full",
]);

/** What an RDS drill leaves in S3 for its continuation (checks and expectations are too big for tags). */
export const rdsDrillPlanSchema = z.object({
  version: z.literal(1),
  drillId: z.string(),
  system: z.string(),
  database: z.string(),
  instanceId: z.string(),
  source: z.enum(["rds-pitr", "rds-snapshot"]),
  sourceInstance: z.string(),
  snapshot: z.string().optional(),
  startedAt: z.string(),
  deadline: z.string(),
  recoveryPoint: z.string(),
  tableCount: z.number().int().optional(),
  tables: z.array(z.object({ schema: z.string(), name: z.string(), rows: z.number(), exact: z.boolean() })),
  rowTolerancePercent: z.number(),
  checks: z.array(customCheckSchema),
  warnings: z.array(z.string()),
});

/** An RDS drill's plan. */
export type RdsDrillPlan = z.infer<typeof rdsDrillPlanSchema>;

/** A scratch instance found in the account, with its drill tags read. */
export interface DrillInstance {
  instanceId: string;
  arn: string;
  status: string;
  drillId: string;
  system: string;
  database: string;
  source: string;
  state: string;
  startedAt?: Date;
  deadline?: Date;
  recoveryPoint?: Date;
  endpoint?: { address: string; port: number };
}

const errorName = (error: unknown) => (error as { name?: string } | undefined)?.name ?? "";

function date(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

async function instanceTags(rds: RDSClient, instance: DBInstance): Promise<Map<string, string>> {
  if (instance.TagList) return tagMap(instance.TagList);
  if (!instance.DBInstanceArn) return new Map();
  const listed = await rds.send(new ListTagsForResourceCommand({ ResourceName: instance.DBInstanceArn }));
  return tagMap(listed.TagList);
}

function toDrillInstance(instance: DBInstance, tags: Map<string, string>): DrillInstance | undefined {
  const id = instance.DBInstanceIdentifier ?? "";
  const drill = tags.get(DRILL_TAGS.drillId);
  const system = tags.get(DRILL_TAGS.system);
  // Both the name and our tags: nothing else in the account is ever touched.
  if (!id.startsWith(SCRATCH_INSTANCE_PREFIX) || !drill || !system) return undefined;
  const startedAt = date(tags.get(DRILL_TAGS.startedAt));
  const deadline = date(tags.get(DRILL_TAGS.deadline));
  const recoveryPoint = date(tags.get(DRILL_TAGS.recoveryPoint));
  return {
    instanceId: id,
    arn: instance.DBInstanceArn ?? "",
    status: instance.DBInstanceStatus ?? "unknown",
    drillId: drill,
    system,
    database: tags.get(DRILL_TAGS.database) ?? "",
    source: tags.get(DRILL_TAGS.source) ?? "",
    state: tags.get(DRILL_TAGS.state) ?? "",
    ...(startedAt ? { startedAt } : {}),
    ...(deadline ? { deadline } : {}),
    ...(recoveryPoint ? { recoveryPoint } : {}),
    ...(instance.Endpoint?.Address
      ? { endpoint: { address: instance.Endpoint.Address, port: instance.Endpoint.Port ?? 5432 } }
      : {}),
  };
}

/** Describes one instance; undefined when it does not exist. */
export async function describeInstance(rds: RDSClient, instanceId: string): Promise<DBInstance | undefined> {
  try {
    const result = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }));
    return result.DBInstances?.[0];
  } catch (error) {
    if (errorName(error) === "DBInstanceNotFoundFault") return undefined;
    throw error;
  }
}

/** Every scratch instance of a system (by name prefix and tags), following `Marker` pages. */
export async function listDrillInstances(rds: RDSClient, systemId: string): Promise<DrillInstance[]> {
  const found: DrillInstance[] = [];
  let marker: string | undefined;
  do {
    const page = await rds.send(
      new DescribeDBInstancesCommand({ ...(marker ? { Marker: marker } : {}), MaxRecords: 100 }),
    );
    for (const instance of page.DBInstances ?? []) {
      if (!instance.DBInstanceIdentifier?.startsWith(SCRATCH_INSTANCE_PREFIX)) continue;
      const drill = toDrillInstance(instance, await instanceTags(rds, instance));
      if (drill && drill.system === systemId) found.push(drill);
    }
    marker = page.Marker;
  } while (marker);
  return found;
}

/** The newest available snapshot (automated or manual) of an instance. */
export async function newestSnapshot(rds: RDSClient, instanceId: string): Promise<DBSnapshot | undefined> {
  let newest: DBSnapshot | undefined;
  let marker: string | undefined;
  do {
    const page = await rds.send(
      new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: instanceId, ...(marker ? { Marker: marker } : {}) }),
    );
    for (const snapshot of page.DBSnapshots ?? []) {
      if (snapshot.Status !== "available" || !snapshot.SnapshotCreateTime) continue;
      if (!newest?.SnapshotCreateTime || snapshot.SnapshotCreateTime > newest.SnapshotCreateTime) newest = snapshot;
    }
    marker = page.Marker;
  } while (marker);
  return newest;
}

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
    warnings.push(
      `source statistics unavailable (${redactText(errorMessage(error))}): table and row counts will not be compared`,
    );
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
    checks: settings.checks,
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
      reason: redactText(errorMessage(error)),
    });
    return;
  }
  report.add({ resource: instanceId, action: "restore-rds-instance", status: "done", after: described });
  report.details.pending = [...((report.details.pending as unknown[]) ?? []), { drillId: id, ...described }];
}

/** Validates a restored instance; injectable so unit tests need no PostgreSQL. */
export type ValidateFn = (conn: PgConnection, expectations: Expectations) => Promise<CheckResult[]>;

/** Options of {@link continueRdsDrill}. */
export interface ContinueRdsDrillOptions {
  instanceId: string;
  /** Who continues: the RDS event, or the janitor for a drill whose event never came. */
  by: "event" | "janitor";
  validate?: ValidateFn;
}

async function setState(rds: RDSClient, arn: string, state: string): Promise<void> {
  await rds.send(new AddTagsToResourceCommand({ ResourceName: arn, Tags: [{ Key: DRILL_TAGS.state, Value: state }] }));
}

/** Deletes a scratch instance without a final snapshot; "already going" and "gone" are success. */
export async function deleteScratchInstance(
  rds: RDSClient,
  instanceId: string,
): Promise<{ status: "removed" | "absent" | "failed"; reason?: string }> {
  if (!instanceId.startsWith(SCRATCH_INSTANCE_PREFIX)) {
    return { status: "failed", reason: `refusing to delete ${instanceId}: not a scratch instance` };
  }
  try {
    await rds.send(
      new DeleteDBInstanceCommand({
        DBInstanceIdentifier: instanceId,
        SkipFinalSnapshot: true,
        DeleteAutomatedBackups: true,
      }),
    );
    return { status: "removed" };
  } catch (error) {
    const name = errorName(error);
    if (name === "DBInstanceNotFoundFault") return { status: "absent" };
    if (name === "InvalidDBInstanceStateFault" && /already being deleted|deleting/i.test(errorMessage(error))) {
      return { status: "removed" };
    }
    return { status: "failed", reason: redactText(errorMessage(error)) };
  }
}

/** Creates the drill's claim; false when another invocation holds it. */
async function claimDrill(
  ctx: RunbookContext,
  drill: DrillInstance,
  token: string,
  by: ContinueRdsDrillOptions["by"],
): Promise<boolean> {
  const backup = ctx.system.backup;
  // No bucket, no drill: startRdsDrill refuses to start one without it.
  if (!backup) return true;
  const key = claimKey(ctx.system.id, drill.instanceId);
  try {
    await writeJsonObject(ctx.clients.s3, {
      bucket: backup.bucket,
      key,
      // `holder`, not `token`: the redaction of saved JSON would blank a key named like a secret.
      value: {
        drillId: drill.drillId,
        instanceId: drill.instanceId,
        holder: token,
        by,
        claimedAt: ctx.now().toISOString(),
      },
      onlyIfAbsent: true,
      ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
    });
    return true;
  } catch (error) {
    if (errorName(error) !== "PreconditionFailed" && errorName(error) !== "ConditionalRequestConflict") throw error;
    // The SDK may have retried our own write after its response was lost: then the claim is ours.
    const held = (await readJsonObject(ctx.clients.s3, backup.bucket, key)) as { holder?: unknown } | undefined;
    return held?.holder === token;
  }
}

async function readPlan(ctx: RunbookContext, instanceId: string): Promise<RdsDrillPlan | undefined> {
  const bucket = ctx.system.backup?.bucket;
  if (!bucket) return undefined;
  const raw = await readJsonObject(ctx.clients.s3, bucket, pendingPlanKey(ctx.system.id, instanceId)).catch(
    () => undefined,
  );
  const parsed = rdsDrillPlanSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

async function finishRecord(ctx: RunbookContext, report: ReportBuilder, record: DrillRecord, instanceId: string) {
  const backup = ctx.system.backup;
  if (backup) {
    try {
      const key = await saveDrillRecord(ctx.clients.s3, {
        bucket: backup.bucket,
        record,
        ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
      });
      report.add({ resource: `s3://${backup.bucket}/${key}`, action: "save-drill-record", status: "done" });
      await deleteObject(ctx.clients.s3, backup.bucket, pendingPlanKey(ctx.system.id, instanceId)).catch(() => {});
    } catch (error) {
      report.add({
        resource: instanceId,
        action: "save-drill-record",
        status: "failed",
        reason: redactText(errorMessage(error)),
      });
    }
  }
  addDrillToReport(report, record);
}

/**
 * Continues an RDS drill once its instance can be reached: claims it through its `drill-state` tag
 * (a duplicate event finds it claimed and does nothing), validates through SQL with the source's
 * credentials, then tags the outcome and deletes the instance (SkipFinalSnapshot) — also when
 * validation throws. Returns the drill's record, or undefined when there was nothing to do.
 */
export async function continueRdsDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: ContinueRdsDrillOptions,
): Promise<DrillRecord | undefined> {
  const { system } = ctx;
  const rds = ctx.clients.rds;
  const { instanceId } = options;
  const instance = await describeInstance(rds, instanceId);
  if (!instance) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: "instance not found (already removed)",
    });
    return undefined;
  }
  const drill = toDrillInstance(instance, await instanceTags(rds, instance));
  if (!drill || drill.system !== system.id) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: drill
        ? `a drill of system ${drill.system}, not ${system.id}`
        : "not a drill instance (no drill tags): left alone",
    });
    return undefined;
  }
  if (drill.status === "deleting") {
    report.add({ resource: instanceId, action: "continue-drill", status: "skipped", reason: "already being deleted" });
    return undefined;
  }
  if (drill.state === "passed" || drill.state === "failed") {
    // Validated before: only the deletion may be left to do (it failed, or this is a duplicate event).
    if (ctx.dryRun) {
      report.add({
        resource: instanceId,
        action: "delete-rds-instance",
        status: "would-do",
        reason: `drill already ${drill.state}`,
      });
      return undefined;
    }
    const cleanup = await deleteScratchInstance(rds, instanceId);
    report.add({
      resource: instanceId,
      action: "delete-rds-instance",
      status: cleanup.status === "failed" ? "failed" : "done",
      reason: `drill already ${drill.state}: not validated again${cleanup.reason ? `; ${cleanup.reason}` : ""}`,
    });
    return undefined;
  }
  if (drill.state.startsWith("validating")) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: "another invocation is validating this drill (duplicate event)",
    });
    return undefined;
  }
  const now = ctx.now();
  const database = system.databases.find((d) => d.id === drill.database);
  const plan = await readPlan(ctx, instanceId);
  const startedAt = drill.startedAt ?? (plan ? new Date(plan.startedAt) : now);
  const pastDeadline = drill.deadline !== undefined && drill.deadline.getTime() <= now.getTime();
  const broken = BROKEN.has(drill.status);
  if (!CONNECTABLE.has(drill.status) && !broken && !pastDeadline) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: `instance is ${drill.status}, not yet available: waiting for the next event (or the janitor)`,
    });
    return undefined;
  }
  if (ctx.dryRun) {
    report.add({ resource: instanceId, action: "validate", status: "would-do", reason: `instance is ${drill.status}` });
    report.add({
      resource: instanceId,
      action: "delete-rds-instance",
      status: "would-do",
      reason: "SkipFinalSnapshot",
    });
    return undefined;
  }

  // Claim: a tag has no compare-and-set (two invocations that both read "restoring" would both win a
  // write-then-read-back), so the claim is an S3 object created only if absent; the tag then shows it.
  const token = `validating:${randomUUID().slice(0, 8)}`;
  if (!(await claimDrill(ctx, drill, token, options.by))) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: "another invocation claimed this drill first (duplicate event)",
    });
    return undefined;
  }
  await setState(rds, drill.arn, token);

  const checks: CheckResult[] = [];
  let validatedAt: Date | undefined;
  let failure: string | undefined;
  try {
    if (broken) throw new Error(`the restore ended in status ${drill.status}`);
    if (pastDeadline)
      throw new Error(`the drill's deadline ${drill.deadline?.toISOString()} passed before the instance was validated`);
    if (!database) throw new Error(`database "${drill.database}" is no longer in the catalogue of ${system.id}`);
    if (!drill.endpoint) throw new Error("the instance has no endpoint yet");
    const sourceConn = await resolveConnection({ database, secrets: ctx.clients.secrets, env: ctx.env });
    // A restored instance keeps the source's master user and password; only the address is its own.
    const conn: PgConnection = {
      ...sourceConn,
      host: drill.endpoint.address,
      port: drill.endpoint.port,
      sslmode: sourceConn.sslmode ?? "require",
    };
    const validate = options.validate ?? validateRestored;
    checks.push(
      ...(await validate(conn, {
        ...(plan?.tableCount !== undefined ? { tableCount: plan.tableCount } : {}),
        tables: plan?.tables ?? [],
        rowTolerancePercent: plan?.rowTolerancePercent ?? 10,
        checks: plan?.checks ?? [],
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      })),
    );
    validatedAt = ctx.now();
    report.add({ resource: instanceId, action: "validate", ...validationOutcome(checks) });
  } catch (error) {
    failure = redactText(errorMessage(error));
    report.add({ resource: instanceId, action: "validate", status: "failed", reason: failure });
  }

  const passed = !failure && checks.every((c) => c.status !== "failed");
  await setState(rds, drill.arn, passed ? "passed" : "failed").catch(() => {});
  const cleanup = await deleteScratchInstance(rds, instanceId);
  report.add({
    resource: instanceId,
    action: "delete-rds-instance",
    status: cleanup.status === "failed" ? "failed" : "done",
    ...(cleanup.reason
      ? { reason: `${cleanup.reason}; drill-janitor retries (drill state ${passed ? "passed" : "failed"})` }
      : {}),
  });

  const facts: DrillFacts = {
    drillId: drill.drillId,
    system,
    database: drill.database,
    source: drill.source === "rds-snapshot" ? "rds-snapshot" : "rds-pitr",
    startedAt,
    finishedAt: ctx.now(),
    ...(validatedAt ? { validatedAt } : {}),
    ...(drill.recoveryPoint ? { recoveryPoint: drill.recoveryPoint } : {}),
    recoveryPointUsable: !broken && drill.recoveryPoint !== undefined,
    restoredFrom: plan?.snapshot
      ? { snapshot: plan.snapshot, sourceInstance: plan.sourceInstance }
      : { sourceInstance: plan?.sourceInstance ?? "", restoreTime: drill.recoveryPoint?.toISOString() },
    scratch: instanceId,
    checks,
    cleanup:
      cleanup.status === "failed" ? { status: "failed", reason: cleanup.reason ?? "" } : { status: cleanup.status },
    warnings: [
      ...(plan?.warnings ?? []),
      ...(plan ? [] : ["the drill's plan was not found: no expectations or custom checks were applied"]),
      ...(options.by === "janitor"
        ? ["continued by drill-janitor: no RDS event arrived, so the restore time includes the wait"]
        : []),
    ],
    ...(failure ? { failure } : {}),
    restore: { status: drill.status, continuedBy: options.by },
  };
  const record = buildDrillRecord(facts);
  await finishRecord(ctx, report, record, instanceId);
  return record;
}

/** For the janitor: a drill that timed out gets a failed record; the deletion is done by the caller. */
export async function recordTimedOutDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  drill: DrillInstance,
  cleanup: DrillRecord["cleanup"],
): Promise<void> {
  const plan = await readPlan(ctx, drill.instanceId);
  const record = buildDrillRecord({
    drillId: drill.drillId,
    system: ctx.system,
    database: drill.database,
    source: drill.source === "rds-snapshot" ? "rds-snapshot" : "rds-pitr",
    startedAt: drill.startedAt ?? ctx.now(),
    finishedAt: ctx.now(),
    ...(drill.recoveryPoint ? { recoveryPoint: drill.recoveryPoint } : {}),
    recoveryPointUsable: false,
    restoredFrom: {
      sourceInstance: plan?.sourceInstance ?? "",
      ...(plan?.snapshot ? { snapshot: plan.snapshot } : {}),
    },
    scratch: drill.instanceId,
    checks: [],
    cleanup,
    warnings: plan?.warnings ?? [],
    failure: `timed out: the instance was still ${drill.status} (drill state ${drill.state}) at the deadline ${drill.deadline?.toISOString()}`,
  });
  await finishRecord(ctx, report, record, drill.instanceId);
}
