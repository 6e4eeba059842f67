import { z } from "zod";
import type { ValidationIssue } from "../lib/errors.js";
import { isValidTimeZone } from "../lib/timezone.js";
import { credentialsSchema } from "./credentials.js";
import { drillCatalogueSchema } from "./drill-schema.js";
import { databaseBackupSchema } from "./dump-format.js";

export { credentialsSchema } from "./credentials.js";

/**
 * The fleet catalogue schema: one object per system, carrying every number of its deployment guide
 * that a runbook or a schedule needs. The same schema checks the built-in catalogue at load time and
 * a user's `--fleet file.json`, so both fail the same way, before anything runs.
 */

const slug = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,40}$/, "must be lower-case letters, digits and dashes, starting with a letter");

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a 24-hour time HH:MM, e.g. 18:00");

const timezone = z.string().refine(isValidTimeZone, {
  message: "must be an IANA time zone such as Africa/Johannesburg, America/New_York or UTC",
});

const awsRegion = z
  .string()
  .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region such as af-south-1 or us-east-1");

/** Where a system's AWS resources live; `roleArn` lets one deployment serve many accounts. */
export const accountSchema = z.strictObject({
  accountId: z
    .string()
    .regex(/^\d{12}$/, "must be a 12-digit AWS account id")
    .optional(),
  region: awsRegion,
  roleArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, "must be an IAM role ARN")
    .optional(),
  externalId: z.string().min(2).optional(),
});

const ecsServiceSchema = z.strictObject({
  name: z.string().min(1),
  role: z.string().min(1).optional(),
  /** Task size, used to estimate what off-hours saves. */
  cpuUnits: z.number().int().positive().optional(),
  memoryMiB: z.number().int().positive().optional(),
});

const eksDeploymentSchema = z.strictObject({
  name: z.string().min(1),
  replicas: z.number().int().min(0).optional(),
  minReplicas: z.number().int().min(0).optional(),
  maxReplicas: z.number().int().min(1).optional(),
});

/** What runs the system's containers. */
const subnetId = z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet id such as subnet-0abc1234");
const securityGroupId = z.string().regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group id such as sg-0abc1234");

/** Where a backup runs: `auto` in the function unless its estimate exceeds the function's budget; `fargate` always in a task. */
const backupRunOn = z.enum(["auto", "fargate"]);

export const runtimeSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("ecs"),
    cluster: z.string().min(1),
    launchType: z.enum(["FARGATE", "EC2"]).default("FARGATE"),
    services: z.array(ecsServiceSchema).min(1),
  }),
  z.strictObject({
    kind: z.literal("eks"),
    cluster: z.string().min(1),
    namespace: z.string().min(1),
    deployments: z.array(eksDeploymentSchema).min(1),
    /** The worker nodes' instance type, for pricing what off-hours saves (pods priced by their share of one). */
    nodeType: z
      .string()
      .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type such as t3.large")
      .optional(),
    /**
     * For a cluster whose API endpoint is private: the subnets and security groups the scaling functions
     * join (the group must be allowed into the cluster's security group on 443). Absent: public endpoint.
     */
    network: z
      .strictObject({
        subnetIds: z.array(subnetId).min(1),
        securityGroupIds: z.array(securityGroupId).min(1),
      })
      .optional(),
  }),
  z.strictObject({ kind: z.literal("none"), reason: z.string().min(1) }),
]);

export const databaseSchema = z.strictObject({
  /** Key of the database within the system (used in backup keys). */
  id: slug,
  engine: z.literal("postgres"),
  engineVersion: z.string().regex(/^\d+(\.\d+)?$/, "must be a PostgreSQL version such as 15.4 or 16"),
  database: z.string().min(1),
  rdsInstanceId: z.string().min(1).optional(),
  instanceClass: z.string().min(1).optional(),
  /** The instance's `max_connections`, for alarms on connections as a share of it. */
  maxConnections: z.number().int().positive().optional(),
  /** Overrides `backup.runOn` for this database (e.g. the one large database of a system). */
  backupRunOn: backupRunOn.optional(),
  /** Dump format of this database's backups (`custom` unless set; `directory` runs `pg_dump -Fd -j`). */
  backup: databaseBackupSchema.optional(),
  multiAz: z.boolean().default(false),
  credentials: credentialsSchema,
  /**
   * TLS to the database. Default `verify-full` against the Amazon RDS CA bundle (or `OPS_PG_CA_BUNDLE`),
   * for node-postgres and pg_dump/pg_restore alike. `disable` is an explicit opt-out, with the reason,
   * for a database on this machine only (the connection refuses it for any other host).
   */
  tls: z
    .discriminatedUnion(
      "mode",
      [
        z.strictObject({ mode: z.literal("verify-full") }),
        z.strictObject({ mode: z.literal("disable"), reason: z.string().min(1, "say why TLS is off") }),
      ],
      { message: 'must be {mode: "verify-full"} or {mode: "disable", reason} (local databases only)' },
    )
    .default({ mode: "verify-full" }),
});

export const retentionSchema = z.strictObject({
  keepDaily: z.number().int().min(1),
  keepWeekly: z.number().int().min(0).default(0),
  keepMonthly: z.number().int().min(0).default(0),
});

/** Top-level folders of a backup bucket that hold something else: drill records and claims, audit records. */
const RESERVED_PREFIXES = ["drills", "audit"];

/**
 * Folder names (lower-case letters, digits, `_`, `-`) joined by single slashes, not one of the
 * project's own top-level folders. No empty, `.` or `..` segment: every prefix names one folder, so two
 * prefixes can be compared folder by folder (see {@link backupPathOverlaps}).
 */
const backupPrefix = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/,
    "must be folder names of lower-case letters, digits, _ and - joined by single slashes, without leading or trailing slash (e.g. pg_dump or backups/pg_dump)",
  )
  .refine((prefix) => !RESERVED_PREFIXES.includes(prefix.split("/")[0] ?? ""), {
    message: `must not start with ${RESERVED_PREFIXES.map((p) => `${p}/`).join(" or ")}: the project keeps drill and audit records there`,
  });

export const backupSchema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name"),
  prefix: backupPrefix,
  retention: retentionSchema,
  /** pg_dump -Z level for the custom format (0-9). */
  compression: z.number().int().min(0).max(9).default(1),
  kmsKeyId: z.string().min(1).optional(),
  /**
   * Oldest the newest backup may be before the freshness alarm fires and pruning stops. Defaults to the
   * RPO when pg_dump is how the system meets it, else 26 h (a daily dump plus slack).
   */
  maxAgeMinutes: z.number().positive().optional(),
  /** `auto`: in the function, handed to the Fargate task when the estimate exceeds its budget; `fargate`: always the task. */
  runOn: backupRunOn.default("auto"),
  /**
   * The network of the Fargate backup task (RunTask's awsvpc configuration): subnets that reach the
   * database and S3, and security groups the database admits. Absent: no hand-off, an over-budget dump is
   * reported skipped.
   */
  fargate: z
    .strictObject({
      subnetIds: z.array(subnetId).min(1),
      securityGroupIds: z.array(securityGroupId).min(1),
      /** Only for subnets without a NAT gateway or VPC endpoints (a public IP to reach S3 and ECR). */
      assignPublicIp: z.boolean().default(false),
    })
    .optional(),
});

export const drSchema = z.strictObject({
  rtoMinutes: z.number().positive(),
  rpoMinutes: z.number().positive(),
  /** How the restore drill restores: the newest pg_dump, an RDS snapshot, or RDS point-in-time. */
  drillSource: z.enum(["pg_dump", "rds-snapshot", "rds-pitr"]),
  /** Where a statement of a target comes from when the guide is silent. */
  note: z.string().optional(),
  /** Where and how restore drills run, and the system's own SQL checks. */
  drill: drillCatalogueSchema.optional(),
});

export const healthCheckSchema = z.strictObject({
  /** The service (ECS) or deployment (EKS) the endpoint belongs to. */
  target: z.string().min(1),
  path: z.string().startsWith("/", "must start with /"),
  /**
   * Where the health probe reaches the target from outside (the load balancer's URL), e.g.
   * `https://ez.example.com`; `path` is appended. The guides name no host: without it the probe is
   * reported skipped and known-good tracking relies on the alarms and the deployment's own state.
   */
  baseUrl: z
    .string()
    .regex(/^https?:\/\/[^\s/?#]+(:\d+)?$/, "must be an http(s) origin without a path, such as https://ez.example.com")
    .optional(),
  port: z.number().int().min(1).max(65535).optional(),
  intervalSeconds: z.number().int().positive().optional(),
  timeoutSeconds: z.number().int().positive().optional(),
  healthyThreshold: z.number().int().positive().optional(),
  unhealthyThreshold: z.number().int().positive().optional(),
  gracePeriodSeconds: z.number().int().min(0).optional(),
});

/**
 * Rollback on failed health (`runbooks/rollback`): how long a completed deployment must stay healthy before
 * its task definition becomes the last known-good, how recent a deployment must be for a failure to be
 * blamed on it, and how long to wait between two rollbacks of one service.
 */
export const rollbackSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** A completed deployment is promoted to last known-good after this long healthy (alarms OK, probe passing). */
  bakeMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(10),
  /** A failure counts as the deployment's only if the deployment began at most this long ago. */
  windowMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(60),
  /** No second automatic rollback of a service within this long of the last one. */
  cooldownMinutes: z
    .number()
    .int()
    .min(0)
    .max(24 * 60)
    .default(30),
  /** The guide's maximum rollback time (trigger → healthy): reports judge the run against it. */
  maxMinutes: z.number().positive().optional(),
  /** How long a rollback is followed until the service is steady (an EKS deployment: complete) and its probe passes. */
  followMinutes: z.number().int().min(1).max(14).default(10),
});

export const severitySchema = z.enum(["info", "warning", "error", "critical"]);
/** How bad an alarm or a report is; routes pick channels by it. */
export type Severity = z.infer<typeof severitySchema>;

const statisticSchema = z.enum(["Average", "Maximum", "Minimum", "Sum", "SampleCount", "p99", "p95", "p90"]);

export const alarmThresholdSchema = z.strictObject({
  id: slug,
  description: z.string().min(1),
  /** CloudWatch namespace and metric. */
  namespace: z.string().min(1),
  metric: z.string().min(1),
  statistic: statisticSchema.default("Average"),
  comparison: z.enum([">", ">=", "<", "<="]),
  threshold: z.number(),
  unit: z.string().min(1),
  periodSeconds: z.number().int().min(10).default(60),
  evaluationPeriods: z.number().int().min(1).default(1),
  severity: severitySchema,
  /**
   * The one service, deployment, database or load balancer (by its catalogue name or id) the alarm
   * watches; absent: one alarm for each of them.
   */
  target: z.string().min(1).optional(),
  /**
   * Metric math instead of one metric: `metrics` are read in `namespace` with the target's dimensions,
   * `expression` combines them (`MAX_CONNECTIONS` stands for the database's `maxConnections`).
   */
  math: z
    .strictObject({
      expression: z.string().min(1),
      metrics: z.record(
        z.string().regex(/^m\d+$/, "must be an id such as m1"),
        z.strictObject({ metric: z.string().min(1), statistic: statisticSchema }),
      ),
    })
    .optional(),
  /** The runbook the alarm runs on entering ALARM (with the runbook's own guards), or why none fits. */
  remediation: z
    .union([
      z.strictObject({ runbook: z.string().min(1), input: z.record(z.string(), z.unknown()).default({}) }),
      z.strictObject({ none: z.string().min(1) }),
    ])
    .optional(),
});

export const notificationRouteSchema = z.strictObject({
  severity: severitySchema,
  channels: z.array(z.enum(["slack", "sms", "page", "email", "log"])).min(1),
  /** Slack channel (id or name) for this severity; the deployment's default channel when absent. */
  slackChannel: z.string().min(1).optional(),
  /** While an alarm of this severity stays in ALARM, remind this often (minutes; default 240). */
  reminderMinutes: z.number().int().min(5).optional(),
});

/** An Application Load Balancer target group in front of a service, as CloudWatch names them. */
export const loadBalancerSchema = z.strictObject({
  /** The service or deployment it serves (catalogue name). */
  id: z.string().min(1),
  loadBalancer: z
    .string()
    .regex(/^app\/[\w-]+\/[0-9a-f]+$/, "must be the LoadBalancer dimension, app/<name>/<id> (the ARN's end)"),
  targetGroup: z
    .string()
    .regex(/^targetgroup\/[\w-]+\/[0-9a-f]+$/, "must be the TargetGroup dimension, targetgroup/<name>/<id>"),
});

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be an ISO date YYYY-MM-DD");

export const offHoursSchema = z.discriminatedUnion("enabled", [
  z.strictObject({
    enabled: z.literal(true),
    /** Local time at which the off-hours state begins (scale-down). */
    start: hhmm,
    /** Local time at which it ends (scale-up). */
    end: hhmm,
    /** Replicas/tasks a service is never taken below. */
    floor: z.number().int().min(0),
    /** Services (or deployments) the policy covers; all when absent. */
    targets: z.array(z.string().min(1)).optional(),
    /** Saturdays and Sundays are off-hours all day. */
    weekendsOff: z.boolean().default(false),
    holidays: z.array(isoDate).default([]),
  }),
  z.strictObject({ enabled: z.literal(false), reason: z.string().min(1) }),
]);

// ECR's own rule for repository names (CreateRepository API reference).
const ecrRepositoryName = z
  .string()
  .min(2, "must be an ECR repository name of 2 to 256 characters")
  .max(256, "must be an ECR repository name of 2 to 256 characters")
  .regex(
    /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/,
    "must be an ECR repository name: lower-case letters, digits, . _ - and / between parts, e.g. flash-sale or team/api",
  );

/** Release tags `1.2.3` / `v1.2.3` (no pre-release suffix) and `latest`: what a person may pull by name. */
export const DEFAULT_PROTECTED_TAGS = ["^v?(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)$", "^latest$"];

const tagPattern = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    ctx.addIssue({
      code: "custom",
      message: `must be a regular expression such as ^v?\\d+\\.\\d+\\.\\d+$ or ^latest$ (got "${value}": ${why})`,
    });
  }
});

const ecrRepositorySchema = z.strictObject({
  name: ecrRepositoryName,
  /** This repository's own count of newest images to keep (else `ecr.keepLast`). */
  keepLast: z.number().int().min(1, "must keep at least the newest image (1 or more)").optional(),
});

/**
 * ECR cleanup (`runbooks/ecr-cleanup`). Images in use, needed for rollback, or matched by a rule below are
 * kept; the rest older than `maxAgeDays` are deleted.
 */
export const ecrSchema = z
  .strictObject({
    /** A name, or `{name, keepLast}` to keep a different number of newest images in that repository. */
    repositories: z
      .array(z.union([ecrRepositoryName, ecrRepositorySchema]))
      .min(1, "must list at least one repository"),
    /** Newest images (by push time) kept in each repository, in use or not. */
    keepLast: z.number().int().min(1, "must keep at least the newest image (1 or more)").default(10),
    /** Regular expressions: an image with a matching tag is kept. */
    protectedTags: z.array(tagPattern).default(DEFAULT_PROTECTED_TAGS),
    /** Keep an image ECR recorded a pull of within this many days; off when absent. */
    pulledWithinDays: z.number().int().min(1, "must be 1 day or more (leave it out to turn the rule off)").optional(),
    /** Only images pushed longer ago than this are ever deleted. */
    maxAgeDays: z.number().int().min(1, "must be 1 day or more").default(30),
    /** Revisions of every task-definition family whose images stay (rollback targets). */
    keepTaskDefinitionRevisions: z
      .number()
      .int()
      .min(2, "must be 2 or more: the revision before the current one is the rollback target")
      .default(5),
    /** ECR storage price (USD per GB-month) for the cost-saved estimate. */
    priceGbMonthUsd: z.number().positive("must be a price in USD above 0, e.g. 0.10").max(10).default(0.1),
  })
  .superRefine((ecr, ctx) => {
    const names = ecr.repositories.map((r) => (typeof r === "string" ? r : r.name));
    for (const [i, name] of names.entries()) {
      if (names.indexOf(name) !== i) {
        ctx.addIssue({ code: "custom", path: ["repositories", i], message: `duplicate repository "${name}"` });
      }
    }
  });

/** One repository of a system's `ecr` section with its keep-newest count resolved. */
export interface EcrRepository {
  name: string;
  keepLast: number;
}

/** The repositories of an `ecr` section, each with its own keep-newest count. */
export function ecrRepositories(ecr: z.output<typeof ecrSchema>): EcrRepository[] {
  return ecr.repositories.map((r) =>
    typeof r === "string"
      ? { name: r, keepLast: ecr.keepLast }
      : { name: r.name, keepLast: r.keepLast ?? ecr.keepLast },
  );
}

/**
 * Who may run a runbook on this system from Slack (`/ops <runbook> <system>`), and where. Nobody may
 * unless an entry names them: a runbook without an entry, or a person in no `users` or `userGroups`,
 * is refused. Channels are required for the same reason: a command typed in a channel nobody named
 * (a DM, a shared channel) is refused.
 */
export const slackAccessSchema = z
  .strictObject({
    runbook: z.string().min(1),
    users: z
      .array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, "must be a Slack user id such as U024BE7LH (not a display name)"))
      .default([]),
    userGroups: z
      .array(z.string().regex(/^S[A-Z0-9]{2,}$/, "must be a Slack user group id such as S0614TZR7 (not a handle)"))
      .default([]),
    channels: z
      .array(z.string().regex(/^[CGD][A-Z0-9]{2,}$/, "must be a Slack channel id such as C024BE91L (not #name)"))
      .min(1, "name at least one channel id: commands from any other channel are refused"),
  })
  .refine((entry) => entry.users.length + entry.userGroups.length > 0, {
    message:
      "name at least one Slack user id (users) or user group id (userGroups): an entry allowing nobody is a mistake",
    path: ["users"],
  });

/** Slash-command access of a system; without it nobody may run anything on it from Slack. */
export const slackSchema = z.strictObject({
  runbooks: z.array(slackAccessSchema).min(1),
});

export const systemSchema = z
  .strictObject({
    id: slug,
    name: z.string().min(1),
    /** The deployment guide this entry was distilled from. */
    guide: z.string().optional(),
    /** False for systems that exist only locally (the embedded demo): no schedules, alarms or buckets. */
    deploy: z.boolean().default(true),
    account: accountSchema,
    timezone,
    runtime: runtimeSchema,
    databases: z.array(databaseSchema),
    backup: backupSchema.optional(),
    dr: drSchema,
    health: z.array(healthCheckSchema).default([]),
    rollback: rollbackSchema.prefault({}),
    ecr: ecrSchema.optional(),
    alarms: z.array(alarmThresholdSchema).default([]),
    /** Load balancers in front of the services: what ALB alarms are bound to. */
    loadBalancers: z.array(loadBalancerSchema).default([]),
    notifications: z.array(notificationRouteSchema).default([]),
    offHours: offHoursSchema,
    /** Who may run which runbook from Slack (`/ops`), and in which channels; absent: nobody. */
    slack: slackSchema.optional(),
    /** Where the guide is silent: what default was chosen and why. */
    defaults: z.array(z.string()).default([]),
  })
  .superRefine((system, ctx) => {
    const ids = system.databases.map((d) => d.id);
    for (const [i, id] of ids.entries()) {
      if (ids.indexOf(id) !== i) {
        ctx.addIssue({ code: "custom", path: ["databases", i, "id"], message: `duplicate database id "${id}"` });
      }
    }
    if (system.databases.length > 0 && !system.backup) {
      ctx.addIssue({ code: "custom", path: ["backup"], message: "a system with databases needs a backup section" });
    }
    checkHealthTargets(system, ctx);
    checkBackupRunOn(system, ctx);
    const slackRunbooks = system.slack?.runbooks.map((r) => r.runbook) ?? [];
    for (const [i, name] of slackRunbooks.entries()) {
      if (slackRunbooks.indexOf(name) !== i) {
        ctx.addIssue({
          code: "custom",
          path: ["slack", "runbooks", i, "runbook"],
          message: `runbook "${name}" has two entries; merge their users, groups and channels into one`,
        });
      }
    }
    if (system.dr.drillSource !== "pg_dump" && !system.databases.some((d) => d.rdsInstanceId)) {
      ctx.addIssue({
        code: "custom",
        path: ["dr", "drillSource"],
        message: `"${system.dr.drillSource}" needs a database with rdsInstanceId`,
      });
    }
  });

/** `runOn: "fargate"` (the system's or a database's) needs the task's network: without it no task can start. */
function checkBackupRunOn(
  system: {
    databases: { backupRunOn?: "auto" | "fargate" | undefined }[];
    backup?: z.output<typeof backupSchema> | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if (!system.backup || system.backup.fargate) return;
  const needs = [
    ...(system.backup.runOn === "fargate" ? [{ path: ["backup", "runOn"], what: 'backup.runOn is "fargate"' }] : []),
    ...system.databases.flatMap((d, i) =>
      d.backupRunOn === "fargate"
        ? [{ path: ["databases", i, "backupRunOn"], what: `databases[${i}].backupRunOn is "fargate"` }]
        : [],
    ),
  ];
  for (const need of needs) {
    ctx.addIssue({
      code: "custom",
      path: need.path,
      message: `${need.what} but backup.fargate is missing: give the task's network, e.g. {subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0abc1234"]}, or use "auto"`,
    });
  }
}

interface SystemDraft {
  runtime: z.output<typeof runtimeSchema>;
  health: z.output<typeof healthCheckSchema>[];
  rollback: z.output<typeof rollbackSchema>;
}

/** Each health endpoint names a service (or deployment) that exists, and its timing can detect a failure. */
function checkHealthTargets(system: SystemDraft, ctx: z.RefinementCtx): void {
  const targets = healthTargetsOf(system.runtime);
  for (const [i, check] of system.health.entries()) {
    checkHealthTarget({ check, i, targets, runtime: system.runtime }, ctx);
    checkProbeTiming(check, i, ctx);
  }
  checkBakeCoversDetection(system, ctx);
}

type HealthCheckDraft = SystemDraft["health"][number];

/** What a health endpoint may name: the runtime's services (ECS) or deployments (EKS). */
function healthTargetsOf(runtime: SystemDraft["runtime"]): string[] {
  if (runtime.kind === "ecs") return runtime.services.map((s) => s.name);
  if (runtime.kind === "eks") return runtime.deployments.map((d) => d.name);
  return [];
}

function checkHealthTarget(
  options: { check: HealthCheckDraft; i: number; targets: string[]; runtime: SystemDraft["runtime"] },
  ctx: z.RefinementCtx,
): void {
  const { check, i, targets, runtime } = options;
  if (targets.includes(check.target)) return;
  ctx.addIssue({
    code: "custom",
    path: ["health", i, "target"],
    message: `"${check.target}" is not a ${runtime.kind === "eks" ? "deployment" : "service"} of the system; use one of ${targets.join(", ") || "(none: runtime is none)"}`,
  });
}

/** A probe that outlasts its interval would overlap the next one. */
function checkProbeTiming(check: HealthCheckDraft, i: number, ctx: z.RefinementCtx): void {
  if (check.timeoutSeconds === undefined || check.intervalSeconds === undefined) return;
  if (check.timeoutSeconds < check.intervalSeconds) return;
  ctx.addIssue({
    code: "custom",
    path: ["health", i, "timeoutSeconds"],
    message: `must be shorter than intervalSeconds (${check.intervalSeconds}), or probes overlap (got ${check.timeoutSeconds})`,
  });
}

/** The bake lasts at least as long as each health check needs to see a failure. */
function checkBakeCoversDetection(system: SystemDraft, ctx: z.RefinementCtx): void {
  const bakeSeconds = system.rollback.bakeMinutes * 60;
  for (const [i, check] of system.health.entries()) {
    const detect = (check.intervalSeconds ?? 30) * (check.unhealthyThreshold ?? 3);
    if (detect > bakeSeconds) {
      ctx.addIssue({
        code: "custom",
        path: ["rollback", "bakeMinutes"],
        message: `must be at least the time health[${i}] needs to see a failure (interval × unhealthyThreshold = ${detect} s), or a bad deployment is promoted before it is caught (got ${system.rollback.bakeMinutes} min)`,
      });
    }
  }
}

/** One system of the fleet, as validated (defaults applied). */
export type System = z.output<typeof systemSchema>;
/** One system as written in a catalogue file (defaults optional). */
export type SystemInput = z.input<typeof systemSchema>;
export type Database = System["databases"][number];
export type Runtime = System["runtime"];
export type AlarmThreshold = System["alarms"][number];
/** A system's ECR cleanup settings, as validated. */
export type EcrSettings = z.output<typeof ecrSchema>;
export type HealthCheck = System["health"][number];
export type RollbackPolicy = System["rollback"];

/** How old the newest pg_dump of a system may be (see `backup.maxAgeMinutes`). */
export function backupMaxAgeMinutes(system: System): number {
  return system.backup?.maxAgeMinutes ?? (system.dr.drillSource === "pg_dump" ? system.dr.rpoMinutes : 26 * 60);
}

/** Where a system's backups live: every key a runbook of this system lists, reads or deletes is below it. */
export function backupPath(system: Pick<System, "id" | "backup">): string | undefined {
  return system.backup ? `s3://${system.backup.bucket}/${system.backup.prefix}/${system.id}/` : undefined;
}

/**
 * Fleet-level check: no system's backup path may lie inside another's. With prefixes `pg_dump` and
 * `pg_dump/partpal-ims/main` in one bucket, partpal-ims's retention would list (and, before keys were
 * matched against the exact layout, count and delete) the other system's backups, and its IAM grant
 * `pg_dump/partpal-ims/*` covers them. One issue per pair, naming both systems and both paths.
 */
export function backupPathOverlaps(systems: readonly Pick<System, "id" | "backup">[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const paths = systems.flatMap((s) => {
    const path = backupPath(s);
    return path ? [{ id: s.id, path }] : [];
  });
  for (const [i, inner] of paths.entries()) {
    for (const [j, outer] of paths.entries()) {
      if (i === j || inner.id === outer.id || !inner.path.startsWith(outer.path)) continue;
      issues.push({
        path: `system "${inner.id}".backup.prefix`,
        message: `backup path ${inner.path} lies inside system "${outer.id}"'s backup path ${outer.path}; each system's backups must have a folder no other system's is in (the same prefix for both, or another bucket)`,
      });
    }
  }
  return issues;
}
