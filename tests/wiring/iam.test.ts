import { describe, expect, it } from "vitest";
import { z } from "zod";
import { notifyResources } from "../../deploy/alarms.js";
import {
  checkFunctionPolicy,
  type DeploymentPlan,
  deploymentPlan,
  NO_RESOURCE_LEVEL,
  type PlannedFunction,
} from "../../deploy/plan.js";
import { assertPinned, createRuntime } from "../../functions/runtime.js";
import { withAccount } from "../../lib/iam.js";
import { runbooks } from "../../runbooks/index.js";
import { scratchInstanceSystemPrefix } from "../../runbooks/restore-drill/names.js";
import type { AnyRunbook, Permission } from "../../runbooks/types.js";
import { builtinFleet, type Fleet } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { DEPLOY_ACCOUNT_ID, DEPLOYMENT, OTHER_ACCOUNT_ID } from "../helpers/aws-account.js";
import { memoryLogger } from "../helpers/context.js";

const ACCOUNT = DEPLOY_ACCOUNT_ID;
const OTHER_ACCOUNT = OTHER_ACCOUNT_ID;
const fleet = builtinFleet();
const options = DEPLOYMENT;

/** The built-in fleet with ODE in another account, reached through a role with an external id. */
function crossAccountFleet(externalId?: string): Fleet {
  const roleArn = `arn:aws:iam::${OTHER_ACCOUNT}:role/ops-autopilot-target`;
  return {
    ...fleet,
    systems: fleet.systems.map((s) =>
      s.id === "ode" ? { ...s, account: { ...s.account, roleArn, ...(externalId ? { externalId } : {}) } } : s,
    ),
  };
}

/** Every statement a function's identity can use: its own, and those of the roles it assumes. */
function statementsOf(fn: PlannedFunction): Permission[] {
  return [...fn.permissions, ...fn.assumedRoles.flatMap((r) => r.permissions)];
}

/** Account-level wildcards an API cannot do without, and the only actions they may go with. */
const ACCOUNT_WIDE: { pattern: RegExp; actions: string[]; why: string }[] = [
  { pattern: /^db:\*$/, actions: ["rds:DescribeDBInstances"], why: "listing instances is authorised on db:*" },
  {
    pattern: /^(subgrp|og|pg):\*$/,
    actions: ["rds:RestoreDBInstanceToPointInTime", "rds:RestoreDBInstanceFromDBSnapshot"],
    why: "the source's groups are known at run time only",
  },
  {
    // ECR cleanup must never delete an image that anything in the account runs, whichever system it is.
    pattern: /^(service\/\*\/\*|task\/\*\/\*|function:\*)$/,
    actions: ["ecs:DescribeServices", "ecs:ListTagsForResource", "ecs:DescribeTasks", "lambda:GetFunction"],
    why: "reads only: which images are in use anywhere in the account",
  },
  {
    // The bake reads our alarms' states by name prefix (one call, paged) and keeps the system's own.
    pattern: /^alarm:ops-autopilot-\*$/,
    actions: ["cloudwatch:DescribeAlarms"],
    why: "reads only: the states of this deployment's alarms",
  },
  {
    pattern: /^scalable-target\/\*$/,
    actions: ["application-autoscaling:RegisterScalableTarget"],
    why: "scalable-target ids are random",
  },
];

/** Why a resource does not belong to the system (undefined when it does). */
function foreignTo(resource: string, statement: Permission, system: System, auditBucket: string): string | undefined {
  const s3 = /^arn:aws[a-z-]*:s3:::([^/]+)(?:\/(.*))?$/.exec(resource);
  if (s3) return foreignS3(s3[1] as string, s3[2], { statement, system, auditBucket });
  if (resource === system.account.roleArn) return statement.actions.join() === "sts:AssumeRole" ? undefined : "role";
  const parts = resource.split(":");
  const [, , service, region, account] = parts;
  const name = parts.slice(5).join(":");
  if (account !== system.account.accountId) return `account ${account} is not the system's`;
  if (service !== "iam" && region !== system.account.region) return `region ${region} is not the system's`;
  if (ownedNames(system).includes(name)) return undefined;
  if (name === "key/*") {
    return statement.conditions?.some((c) => c.variable === "kms:ViaService") ? undefined : "any key, directly";
  }
  const wide = ACCOUNT_WIDE.find((w) => w.pattern.test(name));
  if (wide && statement.actions.every((a) => wide.actions.includes(a))) return undefined;
  return `${name} is not one of the system's resources`;
}

/** An S3 bucket or key: the system's audit keys, its backup bucket's own prefixes, or listing limited to them. */
function foreignS3(
  bucket: string,
  key: string | undefined,
  args: { statement: Permission; system: System; auditBucket: string },
): string | undefined {
  const { statement, system, auditBucket } = args;
  const backup = system.backup;
  const ownKeys = backup ? [`${backup.prefix}/${system.id}/`, `drills/${system.id}/`] : [];
  if (bucket === auditBucket) return key === `audit/${system.id}/*` ? undefined : "another system's audit keys";
  if (bucket !== backup?.bucket) return "not the system's bucket";
  if (key === undefined) {
    const prefixes = statement.conditions?.find((c) => c.variable === "s3:prefix")?.values ?? [];
    return prefixes.length > 0 && prefixes.every((p) => ownKeys.some((k) => p.startsWith(k)))
      ? undefined
      : "bucket-wide listing";
  }
  return ownKeys.some((k) => key.startsWith(k)) ? undefined : "keys outside the system's prefixes";
}

/** The resource names (an ARN after its account) that are the system's own. */
function ownedNames(system: System): string[] {
  const backup = system.backup;
  const instances = system.databases.flatMap((d) => (d.rdsInstanceId ? [d.rdsInstanceId] : []));
  const secrets = system.databases.flatMap((d) =>
    d.credentials.source === "secrets-manager" ? [`secret:${d.credentials.secretId}-??????`] : [],
  );
  const services = system.runtime.kind === "ecs" ? system.runtime.services.map((s) => s.name) : [];
  const cluster = system.runtime.kind === "ecs" ? system.runtime.cluster.split("/").pop() : undefined;
  const repositories = (system.ecr?.repositories ?? []).map((r) =>
    typeof r === "string" ? r : (r as unknown as { name: string }).name,
  );
  return [
    ...repositories.map((r) => `repository/${r}`),
    ...instances.flatMap((i) => [`db:${i}`, `snapshot:rds:${i}-*`, `snapshot:${i}-*`]),
    // Scratch instances of this system's drills (their prefix carries a hash of the system id).
    `db:${scratchInstanceSystemPrefix(system.id)}*`,
    ...secrets,
    ...services.map((s) => `service/${cluster}/${s}`),
    ...(system.runtime.kind === "eks" ? [`cluster/${system.runtime.cluster}`] : []),
    ...(backup?.kmsKeyId ? [`key/${backup.kmsKeyId}`] : []),
  ];
}

/** Every rule of the acceptance line, over every function of a plan. */
function policyProblems(plan: DeploymentPlan, systems: readonly System[]): string[] {
  const notify = notifyResources({ accountId: plan.accountId, region: plan.region, stage: plan.stage });
  const notifyTopics = [notify.smsTopic.arn, notify.emailTopic.arn];
  return plan.functions.flatMap((fn) => {
    const own = fn.systems.map((id) => {
      const system = systems.find((s) => s.id === id);
      if (!system) throw new Error(id);
      return withAccount(system, plan.accountId);
    });
    return statementsOf(fn).flatMap((statement) => [
      ...statement.actions.filter((a) => a.includes("*")).map((a) => `${fn.id}: action ${a}`),
      ...statement.resources.flatMap((resource) =>
        resourceProblems(fn.id, statement, { resource, own, notifyTopics, auditBucket: plan.auditBucket }),
      ),
    ]);
  });
}

/** The problems of one resource of one statement of a function that serves `own`. */
function resourceProblems(
  fnId: string,
  statement: Permission,
  args: { resource: string; own: System[]; notifyTopics: string[]; auditBucket: string },
): string[] {
  const { resource, own, notifyTopics, auditBucket } = args;
  if (resource === "*") {
    return statement.actions.every((a) => NO_RESOURCE_LEVEL.has(a)) ? [] : [`${fnId}: * for ${statement.actions}`];
  }
  const problems: string[] = [];
  if (resource.split(":")[4] === "*") problems.push(`${fnId}: ${resource} has a * account`);
  // The stage's own notification topics: publishing to them, and nothing else, is every function's.
  if (notifyTopics.includes(resource)) {
    if (!statement.actions.every((a) => a === "sns:Publish"))
      problems.push(`${fnId}: ${statement.actions} on ${resource}`);
    return problems;
  }
  const reasons = own.map((s) => foreignTo(resource, statement, s, auditBucket));
  if (reasons.every((r) => r !== undefined)) problems.push(`${fnId}: ${resource} (${reasons.join("; ")})`);
  return problems;
}

describe("the effective IAM policy of every deployed function (what `ops iam` prints)", () => {
  it("has no * in an action, no * account, and no resource outside the function's own systems", () => {
    const plan = deploymentPlan(fleet, runbooks, options);
    expect(plan.functions.length).toBeGreaterThan(10);
    expect(policyProblems(plan, fleet.systems)).toEqual([]);
  });

  it("holds for a fleet with a system in another account, too", () => {
    const cross = crossAccountFleet("ode-7f3a");
    const plan = deploymentPlan(cross, runbooks, options);
    expect(policyProblems(plan, cross.systems)).toEqual([]);
  });

  it("the walk catches a resource of another system, a * account and a wildcard action", () => {
    const plan = deploymentPlan(fleet, runbooks, options);
    const backup = plan.functions.find((f) => f.id === "ScheduledScaleDown");
    if (!backup) throw new Error("fixture");
    const broken = {
      ...plan,
      functions: [
        {
          ...backup,
          permissions: [
            {
              sid: "X1",
              actions: ["s3:GetObject"],
              resources: ["arn:aws:s3:::flash-sale-backups/pg_dump/flash-sale/*"],
            },
            {
              sid: "X2",
              actions: ["rds:DescribeDBInstances"],
              resources: ["arn:aws:rds:af-south-1:*:db:partpal-ims-db"],
            },
            { sid: "X3", actions: ["s3:*"], resources: ["arn:aws:s3:::partpal-ims-backups/pg_dump/partpal-ims/*"] },
          ],
        },
      ],
    };
    const problems = policyProblems(broken, fleet.systems);
    expect(problems.some((p) => p.includes("flash-sale-backups"))).toBe(true);
    expect(problems.some((p) => p.includes("* account"))).toBe(true);
    expect(problems.some((p) => p.includes("action s3:*"))).toBe(true);
  });
});

describe("IAM each runbook declares, with the system's account filled in", () => {
  const accounted = (s: System) => withAccount(s, ACCOUNT);
  const scheduled = fleet.schedules.map((schedule) => {
    const runbook = runbooks.find((r) => r.name === schedule.runbook);
    const system = fleet.systems.find((s) => s.id === schedule.system);
    if (!runbook || !system) throw new Error(schedule.id);
    return { id: schedule.id, runbook, system: accounted(system) };
  });

  it("ARNs carry the system's account: the catalogue's, else its role's, else the deploying account", () => {
    const partpal = fleet.systems.find((s) => s.id === "partpal-ims");
    const backup = runbooks.find((r) => r.name === "backup");
    if (!partpal || !backup) throw new Error("fixture");
    const secret = (s: System) =>
      backup.permissions(s).find((p) => p.actions.includes("secretsmanager:GetSecretValue"))?.resources;
    expect(secret(accounted(partpal))).toEqual([
      `arn:aws:secretsmanager:af-south-1:${ACCOUNT}:secret:partpal-ims/rds-??????`,
    ]);
    const pinned = { ...partpal, account: { ...partpal.account, accountId: "999988887777" } };
    expect(secret(accounted(pinned))?.[0]).toContain(":999988887777:");
    const viaRole = { ...partpal, account: { ...partpal.account, roleArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/r` } };
    expect(secret(accounted(viaRole))?.[0]).toContain(`:${OTHER_ACCOUNT}:`);
    const contradictory = { ...viaRole, account: { ...viaRole.account, accountId: "999988887777" } };
    expect(() => accounted(contradictory)).toThrow(/accountId 999988887777 is not the account of roleArn/);
  });

  it("s3:ListBucket only with an s3:prefix condition on the system's own prefixes", () => {
    let checked = 0;
    for (const { id, runbook, system } of scheduled) {
      for (const statement of runbook.permissions(system).filter((p) => p.actions.includes("s3:ListBucket"))) {
        const prefix = statement.conditions?.find((c) => c.variable === "s3:prefix");
        expect(prefix?.test, id).toBe("StringLike");
        for (const value of prefix?.values ?? []) {
          expect([`${system.backup?.prefix}/${system.id}/*`, `drills/${system.id}/*`], id).toContain(value);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("KMS keys only through S3 (backups) or RDS (restores), and grants only for AWS resources", () => {
    const flash = fleet.systems.find((s) => s.id === "flash-sale");
    if (!flash?.backup) throw new Error("fixture");
    const withKey = accounted({
      ...flash,
      backup: { ...flash.backup, kmsKeyId: "1234abcd-12ab-34cd-56ef-1234567890ab" },
    });
    const prune = runbooks.find((r) => r.name === "prune-backups") as AnyRunbook;
    // prune-backups reads (verifies) manifests encrypted with the key: Decrypt, and nothing more.
    expect(prune.permissions(withKey).filter((p) => p.actions.some((a) => a.startsWith("kms:")))).toEqual([
      {
        actions: ["kms:Decrypt"],
        resources: [`arn:aws:kms:ap-south-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`],
        conditions: [{ test: "StringEquals", variable: "kms:ViaService", values: ["s3.ap-south-1.amazonaws.com"] }],
      },
    ]);
    for (const name of ["backup", "prune-backups", "restore-drill", "drill-janitor", "drill-continue"]) {
      const runbook = runbooks.find((r) => r.name === name) as AnyRunbook;
      for (const statement of runbook.permissions(withKey).filter((p) => p.actions.some((a) => a.startsWith("kms:")))) {
        const via = statement.conditions?.find((c) => c.variable === "kms:ViaService");
        expect(via?.values, `${name} ${statement.actions}`).toEqual(
          expect.arrayContaining([expect.stringMatching(/^(s3|rds)\.ap-south-1\.amazonaws\.com$/)]),
        );
        if (statement.actions.includes("kms:CreateGrant")) {
          expect(statement.conditions, name).toContainEqual({
            test: "Bool",
            variable: "kms:GrantIsForAWSResource",
            values: ["true"],
          });
        }
      }
    }
    const backup = runbooks.find((r) => r.name === "backup") as AnyRunbook;
    const s3Key = backup.permissions(withKey).find((p) => p.actions.includes("kms:GenerateDataKey"));
    expect(s3Key?.conditions?.[0]?.values).toEqual(["s3.ap-south-1.amazonaws.com"]);
  });

  it("RDS snapshot reads and restores: only the system's own instances' snapshots, automated and named after them", () => {
    const drill = runbooks.find((r) => r.name === "restore-drill") as AnyRunbook;
    const ode = fleet.systems.find((s) => s.id === "ode") as System;
    const statements = drill.permissions(accounted(ode));
    const snapshots = (action: string) =>
      statements
        .filter((p) => p.actions.includes(action))
        .flatMap((p) => p.resources)
        .filter((r) => r.includes(":snapshot:"));
    const own = [
      `arn:aws:rds:us-east-1:${ACCOUNT}:snapshot:rds:ode-postgres-*`,
      `arn:aws:rds:us-east-1:${ACCOUNT}:snapshot:ode-postgres-*`,
    ];
    expect(snapshots("rds:RestoreDBInstanceFromDBSnapshot")).toEqual(own);
    expect(snapshots("rds:DescribeDBSnapshots")).toEqual(own);
  });
});

describe("functions serve explicit systems and run one runbook", () => {
  const plan = deploymentPlan(fleet, runbooks, options);

  it("each function's environment names its runbook and the systems it serves, and nothing else", () => {
    for (const fn of plan.functions) {
      expect(fn.environment.OPS_RUNBOOK, fn.id).toBe(fn.runbook);
      expect(fn.environment.OPS_SYSTEMS?.split(","), fn.id).toEqual(fn.systems);
      // Which of the account's alarms are this deployment's (status filters on it).
      expect(fn.environment.OPS_STAGE, fn.id).toBe(options.stage);
      expect(fn.systems.length, fn.id).toBeGreaterThan(0);
    }
  });

  it("a stage the functions could not start with is refused at deploy, naming what is allowed", () => {
    for (const stage of ["pr_12", "john.doe", "-x"]) {
      expect(() => deploymentPlan(fleet, runbooks, { ...options, stage, auditBucket: "ops-audit" }), stage).toThrow(
        `stage "${stage}" is not allowed: must be a stage name: letters, digits and hyphens`,
      );
    }
  });

  it("every schedule's event is accepted by the function it invokes and refused by every other runbook's", () => {
    const { logger } = memoryLogger();
    const runtimes = new Map(
      plan.functions.map((fn) => [fn.id, createRuntime({ logger, registry: runbooks, fleet }, fn.environment)]),
    );
    for (const schedule of plan.schedules) {
      const own = runtimes.get(schedule.function);
      if (!own) throw new Error(schedule.id);
      expect(() => assertPinned(own, schedule.event), schedule.id).not.toThrow();
      for (const fn of plan.functions.filter((f) => f.runbook !== schedule.event.runbook)) {
        const other = runtimes.get(fn.id);
        if (!other) throw new Error(fn.id);
        expect(() => assertPinned(other, schedule.event), `${schedule.id} → ${fn.id}`).toThrow(/rejected event/);
      }
    }
  });

  it("a runbook without a schedule serves what it declares, never every deployed system", () => {
    const deployed = fleet.systems.filter((s) => s.deploy).map((s) => s.id);
    const continued = plan.functions.filter((f) => f.runbook === "drill-continue");
    expect(continued.map((f) => f.kind).sort()).toEqual(["event", "scheduled", "worker"]);
    for (const fn of continued) expect(fn.systems).toEqual(["flash-sale", "ims-2", "ode"]);
    expect(continued[0]?.systems).not.toEqual(deployed);
    // keep-awake has no schedule: it serves the systems whose off-hours workloads it can act on (PartPal's
    // and ODE's EKS deployments), not every deployed system.
    const awake = plan.functions.filter((f) => f.runbook === "keep-awake");
    for (const fn of awake) expect(fn.systems).toEqual(["partpal-ims", "ode"]);
    expect(awake.length).toBeGreaterThan(0);
    expect(plan.undeployed).toEqual([]);
  });

  it("a runbook nobody schedules and that declares nothing gets no function and no permissions", () => {
    const orphan: AnyRunbook = {
      name: "orphan",
      description: "no schedule, no declaration",
      destructive: false,
      input: z.object({}),
      permissions: () => [
        { actions: ["ecs:UpdateService"], resources: [`arn:aws:ecs:us-east-1:${DEPLOY_ACCOUNT_ID}:service/x/y`] },
      ],
      run: async () => {
        throw new Error("never");
      },
    };
    const withOrphan = deploymentPlan(fleet, [...runbooks, orphan], options);
    expect(withOrphan.functions.some((f) => f.runbook === "orphan")).toBe(false);
    expect(withOrphan.undeployed).toContainEqual(expect.objectContaining({ runbook: "orphan" }));
  });
});

describe("cross-account systems", () => {
  it("the function may assume exactly the catalogue's role, with its external id, and nothing else there", () => {
    const plan = deploymentPlan(crossAccountFleet("ode-7f3a"), runbooks, options);
    const drill = plan.functions.find((f) => f.id === "ScheduledRestoreDrill");
    if (!drill) throw new Error("fixture");
    const assume = drill.permissions.filter((p) => p.actions.includes("sts:AssumeRole"));
    expect(assume).toEqual([
      expect.objectContaining({
        actions: ["sts:AssumeRole"],
        resources: [`arn:aws:iam::${OTHER_ACCOUNT}:role/ops-autopilot-target`],
        conditions: [{ test: "StringEquals", variable: "sts:ExternalId", values: ["ode-7f3a"] }],
      }),
    ]);
    // The role's own policy holds the drill's permissions, in the role's account.
    const role = drill.assumedRoles.find((r) => r.system === "ode");
    expect(role?.permissions.length).toBeGreaterThan(3);
    for (const resource of role?.permissions.flatMap((p) => p.resources) ?? []) {
      if (!resource.startsWith("arn:aws:s3:")) expect(resource).toContain(`:${OTHER_ACCOUNT}:`);
    }
    // No ODE resource is granted to the function itself: only the role and ODE's audit prefix.
    const odeOwn = drill.permissions.filter((p) => p.sid.startsWith("Ode"));
    expect(odeOwn.map((p) => p.sid)).toEqual(["OdeAssumeRole", "OdeAudit"]);
    // ODE's backup bucket lives in its own account: the deployment creates none for it.
    expect(plan.buckets.some((b) => b.system === "ode")).toBe(false);
  });

  it("no external id: the grant has no condition; systems without a role get no sts:AssumeRole at all", () => {
    const plan = deploymentPlan(crossAccountFleet(), runbooks, options);
    const assume = plan.functions.flatMap((f) => f.permissions).filter((p) => p.actions.includes("sts:AssumeRole"));
    expect(assume.length).toBeGreaterThan(0);
    for (const p of assume) expect(p.conditions).toBeUndefined();
    const builtin = deploymentPlan(fleet, runbooks, options);
    expect(builtin.functions.flatMap((f) => f.permissions).some((p) => p.actions.includes("sts:AssumeRole"))).toBe(
      false,
    );
  });
});

describe("the audit bucket", () => {
  const plan = deploymentPlan(fleet, runbooks, options);

  it("is versioned with S3 Object Lock: compliance mode for a year in production", () => {
    const audit = plan.buckets.find((b) => b.kind === "audit");
    expect(audit).toMatchObject({
      name: plan.auditBucket,
      versioning: true,
      objectLock: { mode: "COMPLIANCE", days: 365 },
    });
    const staging = deploymentPlan(fleet, runbooks, { ...options, stage: "staging" });
    expect(staging.buckets.find((b) => b.kind === "audit")?.objectLock).toEqual({ mode: "GOVERNANCE", days: 7 });
  });

  it("functions may only create records under their own systems' prefixes, never replace, delete or unlock", () => {
    for (const fn of plan.functions) {
      const onAudit = fn.permissions.filter((p) => p.resources.some((r) => r.includes(`:::${plan.auditBucket}`)));
      expect(
        onAudit.map((p) => p.resources[0]),
        fn.id,
      ).toEqual(fn.systems.map((id) => `arn:aws:s3:::${plan.auditBucket}/audit/${id}/*`));
      for (const p of onAudit) {
        expect(p.actions, fn.id).toEqual(["s3:PutObject"]);
        expect(p.conditions, fn.id).toEqual([{ test: "Null", variable: "s3:if-none-match", values: ["false"] }]);
      }
      const actions = fn.permissions.flatMap((p) => p.actions);
      for (const forbidden of [
        "s3:BypassGovernanceRetention",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:PutBucketObjectLockConfiguration",
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketPolicy",
      ]) {
        expect(actions, fn.id).not.toContain(forbidden);
      }
    }
  });
});

describe("the plan refuses a policy that breaks the rules", () => {
  const plan = deploymentPlan(fleet, runbooks, options);
  const fn = plan.functions.find((f) => f.id === "ScheduledBackup") as PlannedFunction;
  const audit = { bucket: plan.auditBucket, region: "us-east-1" };
  const withStatement = (p: Permission) => ({ ...fn, permissions: [...fn.permissions, { ...p, sid: "Broken" }] });

  it.each([
    [{ actions: ["s3:*"], resources: ["arn:aws:s3:::partpal-ims-backups/x"] }, /action "s3:\*" has a wildcard/],
    [{ actions: ["rds:DescribeDBInstances"], resources: ["arn:aws:rds:us-east-1:*:db:x"] }, /"\*" account/],
    [{ actions: ["s3:ListBucket"], resources: ["arn:aws:s3:::partpal-ims-backups"] }, /without an s3:prefix/],
    [{ actions: ["kms:Decrypt"], resources: [`arn:aws:kms:us-east-1:${DEPLOY_ACCOUNT_ID}:key/k`] }, /kms:ViaService/],
    [{ actions: ["ecs:UpdateService"], resources: ["*"] }, /resource "\*"/],
    [{ actions: ["cloudwatch:PutMetricData"], resources: ["*"] }, /PutMetricData without a cloudwatch:namespace/],
    [
      { actions: ["s3:DeleteObject"], resources: [`arn:aws:s3:::${plan.auditBucket}/audit/partpal-ims/*`] },
      /only s3:PutObject on its systems' audit prefix/,
    ],
  ])("%j", (statement, message) => {
    expect(() => checkFunctionPolicy(withStatement(statement), audit)).toThrow(message);
  });

  it("a registered runbook that declares such a statement fails the whole plan", () => {
    const greedy = runbooks.map((r) =>
      r.name === "backup" ? { ...r, permissions: () => [{ actions: ["s3:*"], resources: ["arn:aws:s3:::b/*"] }] } : r,
    );
    expect(() => deploymentPlan(fleet, greedy, options)).toThrow(
      /ScheduledBackup \(backup\) breaks the deployment's rules/,
    );
  });
});
