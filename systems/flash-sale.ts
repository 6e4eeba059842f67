import type { SystemInput } from "./schema.js";

/** Flash Sale — guide 001: ECS Fargate in ap-south-1, 10–50 tasks, Multi-AZ RDS PostgreSQL 16.1. */
export const flashSale = {
  id: "flash-sale",
  name: "Flash Sale",
  guide: "001_5cb313fd9e42caf5.txt",
  account: { region: "ap-south-1" },
  timezone: "Asia/Kolkata",
  runtime: {
    kind: "ecs",
    cluster: "flash-sale-cluster",
    launchType: "FARGATE",
    services: [{ name: "flash-sale-service", role: "api", cpuUnits: 1024, memoryMiB: 2048 }],
  },
  databases: [
    {
      id: "main",
      engine: "postgres",
      engineVersion: "16.1",
      database: "flashsale",
      rdsInstanceId: "flash-sale-db",
      instanceClass: "db.r6g.xlarge",
      multiAz: true,
      credentials: { source: "secrets-manager", secretId: "flash-sale/db-password" },
    },
  ],
  backup: {
    bucket: "flash-sale-backups",
    prefix: "pg_dump",
    retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 },
    compression: 1,
  },
  dr: {
    rtoMinutes: 30,
    rpoMinutes: 5,
    drillSource: "rds-pitr",
    note: "RPO 5 min cannot be met by a daily pg_dump: drills measure RDS point-in-time restore.",
  },
  health: [
    {
      target: "flash-sale-service",
      path: "/actuator/health",
      intervalSeconds: 30,
      timeoutSeconds: 5,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      gracePeriodSeconds: 120,
    },
  ],
  // Repository `flash-sale` (guide step 2.1), pushed as :latest and rolled out blue/green: the images of
  // both task sets and of the last 5 revisions stay; the guide sets no retention, so 10 newest, 30 days.
  ecr: {
    repositories: ["flash-sale"],
    keepLast: 10,
    maxAgeDays: 30,
    keepTaskDefinitionRevisions: 5,
    priceGbMonthUsd: 0.1,
  },
  alarms: [
    {
      id: "api-latency",
      description: "Latency > 500 ms",
      namespace: "AWS/ApplicationELB",
      metric: "TargetResponseTime",
      comparison: ">",
      threshold: 0.5,
      unit: "Seconds",
      periodSeconds: 60,
      evaluationPeriods: 3,
      severity: "warning",
      // The guide: "monitor CloudWatch, roll back if issues" (its guards decide whether a deploy is to blame).
      remediation: { runbook: "rollback", input: {} },
    },
    {
      id: "db-read-latency",
      description: "p99 read latency >= 150 ms (target < 150 ms)",
      namespace: "AWS/RDS",
      metric: "ReadLatency",
      statistic: "p99",
      comparison: ">=",
      threshold: 0.15,
      unit: "Seconds",
      periodSeconds: 60,
      evaluationPeriods: 3,
      severity: "warning",
    },
    {
      id: "db-write-latency",
      description: "p99 write latency >= 120 ms (target < 120 ms)",
      namespace: "AWS/RDS",
      metric: "WriteLatency",
      statistic: "p99",
      comparison: ">=",
      threshold: 0.12,
      unit: "Seconds",
      periodSeconds: 60,
      evaluationPeriods: 3,
      severity: "warning",
    },
  ],
  notifications: [],
  offHours: {
    enabled: false,
    reason: "Autoscaling floor is 10 tasks for flash-sale traffic; the guide sets no off-hours window.",
  },
  defaults: [
    "No notification routes in the guide: alarms and reports go to the log only until notifications[] names channels.",
    "Timezone Asia/Kolkata is inferred from the region ap-south-1.",
    "The guide stores only the password in Secrets Manager (flash-sale/db-password); store an RDS-format secret there for backups.",
    "Backup bucket name is not in the guide.",
  ],
} satisfies SystemInput;
