import { z } from "zod";
import { isValidTimeZone } from "../lib/timezone.js";
import { credentialsSchema } from "./credentials.js";
import { drillCatalogueSchema } from "./drill-schema.js";

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
        subnetIds: z
          .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet id such as subnet-0abc1234"))
          .min(1),
        securityGroupIds: z
          .array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group id such as sg-0abc1234"))
          .min(1),
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
  multiAz: z.boolean().default(false),
  credentials: credentialsSchema,
});

export const retentionSchema = z.strictObject({
  keepDaily: z.number().int().min(1),
  keepWeekly: z.number().int().min(0).default(0),
  keepMonthly: z.number().int().min(0).default(0),
});

export const backupSchema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name"),
  prefix: z.string().regex(/^[a-z0-9][a-z0-9/_-]*[a-z0-9]$/, "must be a key prefix without leading or trailing slash"),
  retention: retentionSchema,
  /** pg_dump -Z level for the custom format (0-9). */
  compression: z.number().int().min(0).max(9).default(1),
  kmsKeyId: z.string().min(1).optional(),
  /**
   * Oldest the newest backup may be before the freshness alarm fires and pruning stops. Defaults to the
   * RPO when pg_dump is how the system meets it, else 26 h (a daily dump plus slack).
   */
  maxAgeMinutes: z.number().positive().optional(),
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
  target: z.string().min(1),
  path: z.string().startsWith("/", "must start with /"),
  port: z.number().int().min(1).max(65535).optional(),
  intervalSeconds: z.number().int().positive().optional(),
  timeoutSeconds: z.number().int().positive().optional(),
  healthyThreshold: z.number().int().positive().optional(),
  unhealthyThreshold: z.number().int().positive().optional(),
  gracePeriodSeconds: z.number().int().min(0).optional(),
});

export const severitySchema = z.enum(["info", "warning", "error", "critical"]);
/** How bad an alarm or a report is; routes pick channels by it. */
export type Severity = z.infer<typeof severitySchema>;

export const alarmThresholdSchema = z.strictObject({
  id: slug,
  description: z.string().min(1),
  /** CloudWatch namespace and metric. */
  namespace: z.string().min(1),
  metric: z.string().min(1),
  statistic: z.enum(["Average", "Maximum", "Minimum", "Sum", "SampleCount", "p99", "p95", "p90"]).default("Average"),
  comparison: z.enum([">", ">=", "<", "<="]),
  threshold: z.number(),
  unit: z.string().min(1),
  periodSeconds: z.number().int().min(10).default(60),
  evaluationPeriods: z.number().int().min(1).default(1),
  severity: severitySchema,
  /** Runbook the alarm triggers, if any. */
  runbook: z.string().optional(),
});

export const notificationRouteSchema = z.strictObject({
  severity: severitySchema,
  channels: z.array(z.enum(["slack", "sms", "page", "email", "log"])).min(1),
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

export const ecrSchema = z.strictObject({
  repositories: z.array(z.string().min(1)),
  /** Images to keep beyond those in use or needed for rollback. */
  keepLast: z.number().int().min(1).default(10),
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
    ecr: ecrSchema.optional(),
    alarms: z.array(alarmThresholdSchema).default([]),
    notifications: z.array(notificationRouteSchema).default([]),
    offHours: offHoursSchema,
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
    if (system.dr.drillSource !== "pg_dump" && !system.databases.some((d) => d.rdsInstanceId)) {
      ctx.addIssue({
        code: "custom",
        path: ["dr", "drillSource"],
        message: `"${system.dr.drillSource}" needs a database with rdsInstanceId`,
      });
    }
  });

/** One system of the fleet, as validated (defaults applied). */
export type System = z.output<typeof systemSchema>;
/** One system as written in a catalogue file (defaults optional). */
export type SystemInput = z.input<typeof systemSchema>;
export type Database = System["databases"][number];
export type Runtime = System["runtime"];
export type AlarmThreshold = System["alarms"][number];

/** How old the newest pg_dump of a system may be (see `backup.maxAgeMinutes`). */
export function backupMaxAgeMinutes(system: System): number {
  return system.backup?.maxAgeMinutes ?? (system.dr.drillSource === "pg_dump" ? system.dr.rpoMinutes : 26 * 60);
}
