import {
  arn,
  backupKeyPrefix,
  backupKmsPermissions,
  backupObjectArn,
  databaseSecretPermissions,
  listBucketPermission,
  s3Arn,
  viaService,
} from "../../lib/iam.js";
import { drillPrefix } from "../../runbooks/backup/layout.js";
import type { System } from "../../systems/schema.js";
import type { Permission } from "../types.js";
import { scratchInstanceSystemPrefix } from "./names.js";

/** Drill records and pending plans: `arn:<partition>:s3:::<bucket>/drills/<system>/*`. */
export function drillObjectArn(system: System): string {
  return system.backup ? s3Arn(system, `${system.backup.bucket}/${drillPrefix(system.id)}*`) : "";
}

/**
 * Scratch instances of this system only (`db:drill-<system>-*`). IAM cannot tell `drill-ims-*` from
 * `drill-ims-2-*`; the code also requires the instance's `ops-autopilot:system` tag to match.
 */
export function scratchInstanceArn(system: System): string {
  return arn(system, "rds", `db:${scratchInstanceSystemPrefix(system.id)}*`);
}

/** True when the system's drills restore RDS instances. */
export function usesRds(system: System): boolean {
  return system.dr.drillSource !== "pg_dump";
}

/** S3 objects of drill records and plans, without the listing (callers list what they need). */
function drillObjectPermissions(system: System): Permission[] {
  if (!system.backup) return [];
  return [
    { actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources: [drillObjectArn(system)] },
    ...backupKmsPermissions(system),
  ];
}

/** S3: list the system's drill prefix, read/write/delete drill records and plans. */
export function drillRecordPermissions(system: System): Permission[] {
  if (!system.backup) return [];
  return [...listBucketPermission(system, [drillPrefix(system.id)]), ...drillObjectPermissions(system)];
}

/** pg_dump drills list and read the backups; a drill target in Secrets Manager is read like the database's. */
export function pgDumpDrillPermissions(system: System): Permission[] {
  if (!system.backup) return [];
  return [
    ...listBucketPermission(system, [backupKeyPrefix(system), drillPrefix(system.id)]),
    { actions: ["s3:GetObject"], resources: [backupObjectArn(system)] },
    ...drillObjectPermissions(system),
    ...databaseSecretPermissions(system),
  ];
}

/**
 * The snapshots a system's drill may read and restore: its own instances' automated snapshots
 * (`rds:<instance>-<date>`) and manual ones named after the instance (`<instance>-*`), never another
 * instance's. IAM matches snapshot names, so a manual snapshot named otherwise cannot be drilled.
 */
export function sourceSnapshotArns(system: System): string[] {
  return system.databases.flatMap((d) =>
    d.rdsInstanceId
      ? [arn(system, "rds", `snapshot:rds:${d.rdsInstanceId}-*`), arn(system, "rds", `snapshot:${d.rdsInstanceId}-*`)]
      : [],
  );
}

/**
 * RDS encrypts a restored copy with the source's key using the caller's rights: DescribeKey and
 * CreateGrant through RDS in the system's region only, and the grant only for an AWS resource.
 */
export function rdsKmsPermissions(system: System): Permission[] {
  const keys = [arn(system, "kms", "key/*")];
  const rds = viaService(system, "rds");
  return [
    { actions: ["kms:DescribeKey"], resources: keys, conditions: [rds] },
    {
      actions: ["kms:CreateGrant"],
      resources: keys,
      conditions: [rds, { test: "Bool", variable: "kms:GrantIsForAWSResource", values: ["true"] }],
    },
  ];
}

/** Describe, tag, delete: what continuing and cleaning up an RDS drill needs. */
export function rdsCleanupPermissions(system: System): Permission[] {
  return [
    // DescribeDBInstances without an identifier (the janitor's listing) is authorised on db:*.
    { actions: ["rds:DescribeDBInstances"], resources: [arn(system, "rds", "db:*")] },
    {
      actions: ["rds:ListTagsForResource", "rds:AddTagsToResource", "rds:DeleteDBInstance"],
      resources: [scratchInstanceArn(system)],
    },
    ...drillRecordPermissions(system),
    ...databaseSecretPermissions(system),
  ];
}

/** Starting an RDS drill: restore from the source (PITR) or its snapshots into a scratch instance. */
export function rdsStartPermissions(system: System): Permission[] {
  const sources = system.databases.flatMap((d) =>
    d.rdsInstanceId ? [arn(system, "rds", `db:${d.rdsInstanceId}`)] : [],
  );
  const snapshots = sourceSnapshotArns(system);
  // The subnet group is the catalogue's when it names one, else the source's (known only at run time).
  const subnetGroup = system.dr.drill?.subnetGroup;
  const placement = [
    arn(system, "rds", `subgrp:${subnetGroup ?? "*"}`),
    arn(system, "rds", "og:*"),
    arn(system, "rds", "pg:*"),
  ];
  return [
    ...rdsCleanupPermissions(system),
    { actions: ["rds:DescribeDBSnapshots"], resources: [...sources, ...snapshots] },
    {
      actions: ["rds:RestoreDBInstanceToPointInTime"],
      resources: [...sources, scratchInstanceArn(system), ...placement],
    },
    {
      actions: ["rds:RestoreDBInstanceFromDBSnapshot"],
      resources: [...snapshots, scratchInstanceArn(system), ...placement],
    },
    ...rdsKmsPermissions(system),
  ];
}
