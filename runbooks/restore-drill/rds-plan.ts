import type { DBInstance, DBSnapshot, Tag } from "@aws-sdk/client-rds";
import { z } from "zod";
import { DRILL_TAGS, drillId, scratchInstanceId } from "./names.js";
import type { DrillInstance } from "./rds-instances.js";
import type { DrillSettings } from "./settings.js";

/** What an RDS drill leaves in S3 for its continuation (expectations are too big for tags). */
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
  // No checks: S3 is not a source of SQL. The continuation reads them from the catalogue.
  warnings: z.array(z.string()),
});

/** An RDS drill's plan. */
export type RdsDrillPlan = z.infer<typeof rdsDrillPlanSchema>;

/** What the RDS drill start read before deciding (each later field only once the earlier rules pass). */
export interface RdsStartSnapshot {
  system: string;
  database: string;
  source: "rds-pitr" | "rds-snapshot";
  /** The catalogue's `rdsInstanceId`. */
  sourceId?: string | undefined;
  /** The catalogue has a backup section (drill records and pending plans live in its bucket). */
  hasBucket: boolean;
  /** This system's scratch instances. */
  drills?: readonly DrillInstance[];
  /** The source instance; null when RDS does not know it. */
  sourceInstance?: DBInstance | null;
  /** The newest available snapshot (snapshot drills); null when there is none. */
  snapshot?: DBSnapshot | null;
  /** The source's table statistics, or why they could not be read. */
  stats?: { tableCount: number; tables: RdsDrillPlan["tables"] } | { error: string };
  warnings: readonly string[];
}

/** An RDS drill that does not start, and why. */
export interface RdsStartSkip {
  kind: "skip";
  resource: string;
  status: "skipped" | "failed";
  reason: string;
}

/** An RDS drill to start: the pending plan, the restore request's settings, what the report says. */
export interface RdsStartSteps {
  kind: "start";
  drillId: string;
  instanceId: string;
  sourceId: string;
  source: "rds-pitr" | "rds-snapshot";
  recoveryPoint: Date;
  snapshotId?: string;
  /** What `drill-continue` reads back from S3. */
  pending: RdsDrillPlan;
  /** Settings common to both restore requests (class, network, tags). */
  request: {
    DBInstanceClass: string;
    MultiAZ: false;
    PubliclyAccessible: false;
    AutoMinorVersionUpgrade: false;
    DeletionProtection: false;
    CopyTagsToSnapshot: false;
    BackupRetentionPeriod: 0;
    DBSubnetGroupName?: string;
    VpcSecurityGroupIds?: string[];
    Tags: Tag[];
  };
  /** The plan as a person reads it (the report's `after`). */
  described: {
    instance: string;
    from: string;
    class: string;
    subnetGroup: string;
    securityGroups: string[];
    deadline: string;
    recoveryPointAgeSeconds: number;
  };
  recoveryPointAgeMs: number;
}

/** The plan of one database's RDS drill start. */
export type RdsStartPlan = RdsStartSkip | RdsStartSteps;

/** Rule 3: a drill of this database restoring or validating within its deadline. */
export function rdsDrillInFlight(
  drills: readonly DrillInstance[],
  database: string,
  now: Date,
): DrillInstance | undefined {
  return drills.find(
    (d) =>
      d.database === database &&
      d.status !== "deleting" &&
      (d.state === "restoring" || d.state.startsWith("validating")) &&
      (d.deadline?.getTime() ?? 0) > now.getTime(),
  );
}

/** Rules 4–5: the recovery point the source offers, or why it offers none. */
function recoveryPointOf(
  snapshot: RdsStartSnapshot,
): { at: Date; snapshotId?: string } | { reason: string } | undefined {
  if (snapshot.sourceInstance === undefined) return undefined;
  if (snapshot.sourceInstance === null) return { reason: "source DB instance not found" };
  if (snapshot.source === "rds-pitr") {
    const at = snapshot.sourceInstance.LatestRestorableTime;
    return at
      ? { at }
      : {
          reason:
            "the source has no LatestRestorableTime: automated backups are off (BackupRetentionPeriod 0), so point-in-time restore is impossible",
        };
  }
  const snap = snapshot.snapshot;
  if (!snap?.DBSnapshotIdentifier || !snap.SnapshotCreateTime) return { reason: "no available snapshot of the source" };
  return { at: snap.SnapshotCreateTime, snapshotId: snap.DBSnapshotIdentifier };
}

/**
 * The RDS drill start of one database, in the order the rules apply:
 * 1. no `rdsInstanceId` → skipped (nothing to restore from);
 * 2. no backup bucket → failed (the record and the pending plan have nowhere to go);
 * 3. a drill of this database in flight → skipped (at-least-once delivery);
 * 4. the source instance unknown to RDS → failed;
 * 5. no recovery point (PITR: no LatestRestorableTime; snapshot: none available) → failed;
 * 6. else: restore into a small, private, tagged scratch instance whose tags carry the drill's state.
 */
export function planRdsStart(snapshot: RdsStartSnapshot, settings: DrillSettings, now: Date): RdsStartPlan {
  const resource = `${snapshot.system}/${snapshot.database}`;
  const sourceId = snapshot.sourceId;
  if (!sourceId) return { kind: "skip", resource, status: "skipped", reason: "no rdsInstanceId in the catalogue" };
  if (!snapshot.hasBucket) {
    return {
      kind: "skip",
      resource,
      status: "failed",
      reason: "drill records are kept in the backup bucket: the catalogue has no backup section",
    };
  }
  const inFlight = rdsDrillInFlight(snapshot.drills ?? [], snapshot.database, now);
  if (inFlight) {
    return {
      kind: "skip",
      resource,
      status: "skipped",
      reason: `drill ${inFlight.drillId} is in progress (instance ${inFlight.instanceId}, ${inFlight.status}, deadline ${inFlight.deadline?.toISOString()})`,
    };
  }
  const point = recoveryPointOf(snapshot);
  if (point && "reason" in point) return { kind: "skip", resource: sourceId, status: "failed", reason: point.reason };
  if (!point || !snapshot.sourceInstance) throw new Error("planRdsStart: the source instance was not read");
  return startSteps({ snapshot, settings, now, sourceId, source: snapshot.sourceInstance, point });
}

interface StartInput {
  snapshot: RdsStartSnapshot;
  settings: DrillSettings;
  now: Date;
  sourceId: string;
  source: DBInstance;
  point: { at: Date; snapshotId?: string };
}

function drillTags(input: StartInput, id: string, deadline: Date): Tag[] {
  const { snapshot, point, now } = input;
  return [
    { Key: DRILL_TAGS.drillId, Value: id },
    { Key: DRILL_TAGS.system, Value: snapshot.system },
    { Key: DRILL_TAGS.database, Value: snapshot.database },
    { Key: DRILL_TAGS.source, Value: snapshot.source },
    { Key: DRILL_TAGS.startedAt, Value: now.toISOString() },
    { Key: DRILL_TAGS.deadline, Value: deadline.toISOString() },
    { Key: DRILL_TAGS.state, Value: "restoring" },
    { Key: DRILL_TAGS.recoveryPoint, Value: point.at.toISOString() },
    { Key: DRILL_TAGS.sourceInstance, Value: input.sourceId },
    ...(point.snapshotId
      ? [{ Key: DRILL_TAGS.snapshot, Value: point.snapshotId.replace(/[^\w.:/=+\-@ ]/g, "_") }]
      : []),
  ];
}

/** The source's statistics become the expectations; without them, a warning says counts are not compared. */
function statsOf(snapshot: RdsStartSnapshot): {
  tableCount?: number;
  tables: RdsDrillPlan["tables"];
  warnings: string[];
} {
  const stats = snapshot.stats;
  if (!stats || "error" in stats) {
    const why = stats ? stats.error : "not read";
    return {
      tables: [],
      warnings: [
        ...snapshot.warnings,
        `source statistics unavailable (${why}): table and row counts will not be compared`,
      ],
    };
  }
  return { tableCount: stats.tableCount, tables: stats.tables, warnings: [...snapshot.warnings] };
}

function startSteps(input: StartInput): RdsStartSteps {
  const { snapshot, settings, now, sourceId, source, point } = input;
  const id = drillId(snapshot.system, snapshot.database, now);
  const instanceId = scratchInstanceId(snapshot.system, snapshot.database, now);
  const deadline = new Date(now.getTime() + settings.deadlineMinutes * 60_000);
  const subnetGroup = settings.subnetGroup ?? source.DBSubnetGroup?.DBSubnetGroupName;
  const securityGroups = settings.securityGroupIds.length
    ? settings.securityGroupIds
    : (source.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : []));
  const stats = statsOf(snapshot);
  const ageMs = now.getTime() - point.at.getTime();
  return {
    kind: "start",
    drillId: id,
    instanceId,
    sourceId,
    source: snapshot.source,
    recoveryPoint: point.at,
    ...(point.snapshotId ? { snapshotId: point.snapshotId } : {}),
    pending: {
      version: 1,
      drillId: id,
      system: snapshot.system,
      database: snapshot.database,
      instanceId,
      source: snapshot.source,
      sourceInstance: sourceId,
      ...(point.snapshotId ? { snapshot: point.snapshotId } : {}),
      startedAt: now.toISOString(),
      deadline: deadline.toISOString(),
      recoveryPoint: point.at.toISOString(),
      ...(stats.tableCount !== undefined ? { tableCount: stats.tableCount } : {}),
      tables: stats.tables,
      rowTolerancePercent: settings.rowTolerancePercent,
      warnings: stats.warnings,
    },
    request: {
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
      Tags: drillTags(input, id, deadline),
    },
    described: {
      instance: instanceId,
      from: point.snapshotId
        ? `snapshot ${point.snapshotId}`
        : `${sourceId} at ${point.at.toISOString()} (latest restorable time)`,
      class: settings.instanceClass,
      subnetGroup: subnetGroup ?? "(default VPC)",
      securityGroups,
      deadline: deadline.toISOString(),
      recoveryPointAgeSeconds: Math.round(ageMs / 1000),
    },
    recoveryPointAgeMs: ageMs,
  };
}
