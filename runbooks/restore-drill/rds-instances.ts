import {
  AddTagsToResourceCommand,
  type DBInstance,
  type DBSnapshot,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ListTagsForResourceCommand,
  type RDSClient,
} from "@aws-sdk/client-rds";
import { errorMessage, errorName } from "../../lib/errors.js";
import { DRILL_TAGS, SCRATCH_INSTANCE_PREFIX, tagMap } from "./names.js";

/** The scratch RDS instances of drills and the source's snapshots: status sets, reading, tagging, deleting. */

/** Statuses in which the instance accepts connections. */
export const CONNECTABLE = new Set([
  "available",
  "backing-up",
  "storage-optimization",
  "configuring-enhanced-monitoring",
  "configuring-log-exports",
  "configuring-iam-database-auth",
]);

/** Statuses from which a restore will never become usable. */
export const BROKEN = new Set([
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

function date(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The tags of an instance: from the description when it has them, else listed. */
export async function instanceTags(rds: RDSClient, instance: DBInstance): Promise<Map<string, string>> {
  if (instance.TagList) return tagMap(instance.TagList);
  if (!instance.DBInstanceArn) return new Map();
  const listed = await rds.send(new ListTagsForResourceCommand({ ResourceName: instance.DBInstanceArn }));
  return tagMap(listed.TagList);
}

/** The drill view of an instance; undefined when it is not a scratch instance with drill tags. */
export function toDrillInstance(instance: DBInstance, tags: Map<string, string>): DrillInstance | undefined {
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

/** Sets the instance's `drill-state` tag. */
export async function setState(rds: RDSClient, arn: string, state: string): Promise<void> {
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
    return { status: "failed", reason: errorMessage(error) };
  }
}
