import type { Permission } from "../../runbooks/types.js";
import type { System } from "../../systems/schema.js";
import { drillPrefix } from "../backup/layout.js";
import {
  arn,
  backupBucketArn,
  backupKmsPermissions,
  backupObjectArn,
  databaseSecretPermissions,
  s3Arn,
} from "../iam.js";
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

/** S3: list the bucket, read/write/delete drill records and plans. */
export function drillRecordPermissions(system: System): Permission[] {
  if (!system.backup) return [];
  return [
    { actions: ["s3:ListBucket"], resources: [backupBucketArn(system)] },
    { actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources: [drillObjectArn(system)] },
    ...backupKmsPermissions(system),
  ];
}

/** pg_dump drills read the backups; a drill target in Secrets Manager is read like the database's. */
export function pgDumpDrillPermissions(system: System): Permission[] {
  if (!system.backup) return [];
  return [
    { actions: ["s3:GetObject"], resources: [backupObjectArn(system)] },
    ...drillRecordPermissions(system),
    ...databaseSecretPermissions(system),
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
  const placement = [arn(system, "rds", "subgrp:*"), arn(system, "rds", "og:*"), arn(system, "rds", "pg:*")];
  return [
    ...rdsCleanupPermissions(system),
    {
      actions: ["rds:DescribeDBSnapshots"],
      resources: [...sources, arn(system, "rds", "snapshot:*")],
    },
    {
      actions: ["rds:RestoreDBInstanceToPointInTime"],
      resources: [...sources, scratchInstanceArn(system), ...placement],
    },
    {
      actions: ["rds:RestoreDBInstanceFromDBSnapshot"],
      resources: [arn(system, "rds", "snapshot:*"), scratchInstanceArn(system), ...placement],
    },
    // RDS uses the caller's rights on the source's KMS key to encrypt the copy.
    { actions: ["kms:DescribeKey", "kms:CreateGrant"], resources: [arn(system, "kms", "key/*")] },
  ];
}
