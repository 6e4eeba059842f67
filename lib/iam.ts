import type { System } from "../systems/schema.js";

/**
 * One IAM condition of a statement, as SST's function permissions take it (`{test, variable, values}`)
 * and as a policy document writes it (`"Condition": {test: {variable: values}}`).
 */
export interface PermissionCondition {
  /** The operator: `StringEquals`, `StringLike`, `Bool`, `Null`, ... */
  test: string;
  /** The condition key: `kms:ViaService`, `s3:prefix`, `sts:ExternalId`, ... */
  variable: string;
  values: string[];
}

/** An IAM statement a runbook needs; the deployment plan grants exactly the union of these. */
export interface Permission {
  actions: string[];
  resources: string[];
  /** All must hold for the statement to allow anything (IAM ANDs the conditions of a statement). */
  conditions?: PermissionCondition[];
}

/**
 * The ARN partition a region belongs to. China and GovCloud regions have their own, and a policy that
 * names `arn:aws:` there matches nothing: the function would deploy and then be denied everything.
 */
export function partitionOf(region: string): "aws" | "aws-cn" | "aws-us-gov" {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

/** The account of an IAM role ARN (`arn:aws:iam::<account>:role/...`). */
export function roleAccount(roleArn: string): string | undefined {
  return /^arn:[a-z-]+:iam::(\d{12}):role\//.exec(roleArn)?.[1];
}

/**
 * The account a system's resources live in: the catalogue's `accountId`, else the account of the role
 * it is reached through. Undefined when neither says: the deployment plan then fills in the deploying
 * account ({@link withAccount}) before asking runbooks for their permissions.
 */
export function accountOf(system: System): string | undefined {
  return system.account.accountId ?? (system.account.roleArn ? roleAccount(system.account.roleArn) : undefined);
}

/**
 * The system with `account.accountId` set, so that every ARN built for it names its account. The
 * catalogue's id wins, then the role's account, then `deployingAccount` (the account the functions are
 * deployed to, where a system without a role keeps its resources). A catalogue id that contradicts its
 * role's account is an error: one of them is wrong and no policy could be right.
 */
export function withAccount(system: System, deployingAccount: string): System {
  const { accountId, roleArn } = system.account;
  const viaRole = roleArn ? roleAccount(roleArn) : undefined;
  if (accountId && viaRole && accountId !== viaRole) {
    throw new Error(
      `system "${system.id}".account: accountId ${accountId} is not the account of roleArn ${roleArn} (${viaRole})`,
    );
  }
  return { ...system, account: { ...system.account, accountId: accountId ?? viaRole ?? deployingAccount } };
}

/**
 * Where an ARN points when no system is at hand (the deployment's own resources: topics, buckets, the
 * Slack function's secret): the region, which also sets the partition, and the account.
 */
export interface ArnScope {
  region: string;
  accountId: string;
}

/**
 * `arn:<partition>:<service>:<region>:<account>:<resource>`, the one place an ARN is spelled out; `global`
 * leaves the region empty (IAM). Every other helper here builds on it, so a partition is never forgotten.
 */
export function arnIn(scope: ArnScope, service: string, resource: string, options: { global?: boolean } = {}): string {
  const region = options.global ? "" : scope.region;
  return `arn:${partitionOf(scope.region)}:${service}:${region}:${scope.accountId}:${resource}`;
}

/**
 * {@link arnIn} for a system: its region and account. The account is `*` only for a system whose account
 * nobody named (a listing outside a deployment); the deployment plan always fills it in first and refuses
 * any policy that still has a `*` account.
 */
export function arn(system: System, service: string, resource: string, options: { global?: boolean } = {}): string {
  return arnIn({ region: system.account.region, accountId: accountOf(system) ?? "*" }, service, resource, options);
}

/** An AWS managed IAM policy (`arn:<partition>:iam::aws:policy/<path>`), in the region's partition. */
export function managedPolicyArn(region: string, path: string): string {
  return arnIn({ region, accountId: "aws" }, "iam", `policy/${path}`, { global: true });
}

/**
 * Condition: the KMS key is used only through this AWS service in the system's region (S3 encrypting a
 * backup, RDS encrypting a restored copy), never called directly.
 */
export function viaService(system: System, service: "s3" | "rds"): PermissionCondition {
  const suffix = partitionOf(system.account.region) === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return {
    test: "StringEquals",
    variable: "kms:ViaService",
    values: [`${service}.${system.account.region}.${suffix}`],
  };
}

/** `arn:<partition>:s3:::<bucket>[/<key pattern>]` in a region's partition: S3 ARNs name neither region nor account. */
export function s3ArnIn(region: string, path: string): string {
  return `arn:${partitionOf(region)}:s3:::${path}`;
}

/** {@link s3ArnIn} for a system's region. */
export function s3Arn(system: System, path: string): string {
  return s3ArnIn(system.account.region, path);
}

/** Secrets Manager ARNs carry a random 6-character suffix after the name. */
export function secretArnIn(scope: ArnScope, secretId: string): string {
  return secretId.startsWith("arn:") ? secretId : arnIn(scope, "secretsmanager", `secret:${secretId}-??????`);
}

/** {@link secretArnIn} for a system. */
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

/** KMS use for SSE-KMS backups, when a key is configured: only through S3 in the system's region. */
export function backupKmsPermissions(system: System): Permission[] {
  const key = system.backup?.kmsKeyId;
  if (!key) return [];
  return [
    {
      actions: ["kms:GenerateDataKey", "kms:Decrypt"],
      resources: [key.startsWith("arn:") ? key : arn(system, "kms", `key/${key}`)],
      conditions: [viaService(system, "s3")],
    },
  ];
}

/** Reading SSE-KMS backups and manifests (prune verifies manifests, never writes): Decrypt through S3. */
export function backupKmsReadPermissions(system: System): Permission[] {
  return backupKmsPermissions(system).map((p) => ({ ...p, actions: ["kms:Decrypt"] }));
}

/**
 * ListBucket on the system's backup bucket, only for listings under the given key prefixes (each ends in
 * `/`): the bucket may be shared, and a listing outside them would show another system's keys.
 */
export function listBucketPermission(system: System, prefixes: string[]): Permission[] {
  if (!system.backup || prefixes.length === 0) return [];
  return [
    {
      actions: ["s3:ListBucket"],
      resources: [backupBucketArn(system)],
      conditions: [{ test: "StringLike", variable: "s3:prefix", values: prefixes.map((p) => `${p}*`) }],
    },
  ];
}

/** The key prefix every backup of the system lives under (`<prefix>/<system>/`). */
export function backupKeyPrefix(system: System): string {
  return system.backup ? `${system.backup.prefix}/${system.id}/` : "";
}

/** ListBucket limited to the system's backups (`<prefix>/<system>/*`). */
export function backupListPermissions(system: System): Permission[] {
  return system.backup ? listBucketPermission(system, [backupKeyPrefix(system)]) : [];
}

/** Key prefix of a system's audit records in the audit bucket (`lib/audit.ts` writes there). */
export function auditKeyPrefix(systemId: string): string {
  return `audit/${systemId}/`;
}

/** `arn:<partition>:s3:::<audit bucket>/audit/<system>/*`; the bucket is in the deployment's region. */
export function auditObjectArn(systemId: string, audit: { bucket: string; region: string }): string {
  return `arn:${partitionOf(audit.region)}:s3:::${audit.bucket}/${auditKeyPrefix(systemId)}*`;
}

/**
 * Writing a system's audit records: PutObject under `audit/<system>/` only, and only as a create
 * (`If-None-Match: *` must be sent), so a function can neither touch another system's records nor
 * replace one of its own. The bucket's Object Lock keeps every version beyond that.
 */
export function auditWritePermissions(systemId: string, audit: { bucket: string; region: string }): Permission[] {
  return [
    {
      actions: ["s3:PutObject"],
      resources: [auditObjectArn(systemId, audit)],
      conditions: [{ test: "Null", variable: "s3:if-none-match", values: ["false"] }],
    },
  ];
}

/**
 * Assuming the system's role (`account.roleArn`), with its external id when the catalogue sets one:
 * all a function needs for a system in another account; the role's own policy grants the rest.
 */
export function assumeRolePermissions(system: System): Permission[] {
  const { roleArn, externalId } = system.account;
  if (!roleArn) return [];
  return [
    {
      actions: ["sts:AssumeRole"],
      resources: [roleArn],
      ...(externalId
        ? { conditions: [{ test: "StringEquals", variable: "sts:ExternalId", values: [externalId] }] }
        : {}),
    },
  ];
}

/** An IAM policy document (what `ops iam` prints and the README shows). */
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: {
    Sid?: string;
    Effect: "Allow";
    Action: string[];
    Resource: string[];
    Condition?: Record<string, Record<string, string[]>>;
  }[];
}

/** The policy document of a list of permissions, one statement each, conditions in IAM's shape. */
export function toPolicyDocument(permissions: readonly (Permission & { sid?: string })[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: permissions.map((p) => {
      const condition: Record<string, Record<string, string[]>> = {};
      for (const c of p.conditions ?? []) {
        condition[c.test] = { ...(condition[c.test] ?? {}), [c.variable]: c.values };
      }
      return {
        ...(p.sid ? { Sid: p.sid } : {}),
        Effect: "Allow" as const,
        Action: [...p.actions],
        Resource: [...p.resources],
        ...(p.conditions?.length ? { Condition: condition } : {}),
      };
    }),
  };
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

/** The cluster's short name, whether the catalogue gives a name or an ARN. */
export function clusterName(cluster: string): string {
  return cluster.startsWith("arn:") ? (cluster.split("/").pop() ?? cluster) : cluster;
}

/** The ARN IAM knows an ECS service by (long ARN format, which tagging requires anyway). */
export function serviceArn(system: System, cluster: string, service: string): string {
  return arn(system, "ecs", `service/${clusterName(cluster)}/${service}`);
}

/** The ARN of an EKS cluster. */
export function eksClusterArn(system: System, cluster: string): string {
  return cluster.startsWith("arn:") ? cluster : arn(system, "eks", `cluster/${cluster}`);
}

/**
 * The EKS access entry a scaling function needs on a system's cluster, as data: its IAM role is the
 * principal, associated with AmazonEKSEditPolicy scoped to the system's namespace only — the narrowest
 * managed access policy that may patch deployments, their scale subresource and HPAs. `sst.config.ts` (or
 * whatever deploys the functions) creates one `aws.eks.AccessEntry` + `aws.eks.AccessPolicyAssociation`
 * per function from it; a cluster that still authenticates through the `aws-auth` ConfigMap needs the
 * role mapped there instead (README, "EKS access").
 */
export interface KubernetesAccess {
  clusterArn: string;
  cluster: string;
  namespace: string;
  policyArn: string;
  accessScope: { type: "namespace"; namespaces: string[] };
  /** Kubernetes verbs the runbook uses, for a hand-written Role on an `aws-auth` cluster. */
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  /** Where the function must run to reach a private endpoint (from the catalogue), if anywhere. */
  network?: { subnetIds: string[]; securityGroupIds: string[] };
}

/** The managed access policy scaling is associated with (namespace-scoped). */
export const EKS_EDIT_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";

/** The EKS managed access policies the runbooks are associated with, always scoped to one namespace. */
export type EksAccessPolicy = "AmazonEKSEditPolicy" | "AmazonEKSViewPolicy";

/** An EKS managed access policy's ARN, in the partition of the cluster it is associated on. */
export function eksAccessPolicyArn(clusterArn: string, policy: EksAccessPolicy): string {
  const partition = clusterArn.split(":")[1] || "aws";
  return `arn:${partition}:eks::aws:cluster-access-policy/${policy}`;
}

/** Options of {@link kubernetesAccessEntry}. */
export interface KubernetesAccessOptions {
  /** The catalogue's cluster: a name or an ARN. */
  cluster: string;
  namespace: string;
  policy: EksAccessPolicy;
  rules: KubernetesAccess["rules"];
}

/**
 * One {@link KubernetesAccess} for a system's cluster, namespace-scoped, with the catalogue's network
 * placement when it has one: the shape every runbook that talks to Kubernetes declares.
 */
export function kubernetesAccessEntry(system: System, options: KubernetesAccessOptions): KubernetesAccess {
  const clusterArn = eksClusterArn(system, options.cluster);
  const network = system.runtime.kind === "eks" ? system.runtime.network : undefined;
  return {
    clusterArn,
    cluster: clusterName(options.cluster),
    namespace: options.namespace,
    policyArn: eksAccessPolicyArn(clusterArn, options.policy),
    accessScope: { type: "namespace", namespaces: [options.namespace] },
    rules: options.rules,
    ...(network ? { network } : {}),
  };
}
