import type { Permission } from "../runbooks/types.js";
import type { System } from "../systems/schema.js";

/**
 * The ARN partition a region belongs to. China and GovCloud regions have their own, and a policy that
 * names `arn:aws:` there matches nothing: the function would deploy and then be denied everything.
 */
export function partitionOf(region: string): "aws" | "aws-cn" | "aws-us-gov" {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/** `arn:<partition>:<service>:<region>:<account>:<resource>` for a system (account `*` when not pinned). */
export function arn(system: System, service: string, resource: string, options: { global?: boolean } = {}): string {
  const region = options.global ? "" : system.account.region;
  return `arn:${partitionOf(system.account.region)}:${service}:${region}:${system.account.accountId ?? "*"}:${resource}`;
}

/** `arn:<partition>:s3:::<bucket>[/<key pattern>]`: S3 ARNs name neither region nor account. */
export function s3Arn(system: System, path: string): string {
  return `arn:${partitionOf(system.account.region)}:s3:::${path}`;
}

/** Secrets Manager ARNs carry a random 6-character suffix after the name. */
export function secretArn(system: System, secretId: string): string {
  return secretId.startsWith("arn:") ? secretId : arn(system, "secretsmanager", `secret:${secretId}-??????`);
}

/** Read access to the database credentials a system's catalogue names. */
export function databaseSecretPermissions(system: System): Permission[] {
  const resources = system.databases.flatMap((d) =>
    d.credentials.source === "secrets-manager" ? [secretArn(system, d.credentials.secretId)] : [],
  );
  return resources.length ? [{ actions: ["secretsmanager:GetSecretValue"], resources }] : [];
}

/** KMS use for SSE-KMS backups, when a key is configured. */
export function backupKmsPermissions(system: System): Permission[] {
  const key = system.backup?.kmsKeyId;
  if (!key) return [];
  return [
    {
      actions: ["kms:GenerateDataKey", "kms:Decrypt"],
      resources: [key.startsWith("arn:") ? key : arn(system, "kms", `key/${key}`)],
    },
  ];
}

/** Objects under the system's backup prefix. */
export function backupObjectArn(system: System): string {
  const backup = system.backup;
  return backup ? s3Arn(system, `${backup.bucket}/${backup.prefix}/${system.id}/*`) : "";
}

/** The backup bucket itself (for ListBucket). */
export function backupBucketArn(system: System): string {
  return system.backup ? s3Arn(system, system.backup.bucket) : "";
}
