import type { SystemInput } from "./schema.js";

/** IMS 2.0 — guide 002: ECS (3 FastAPI tasks), RDS PostgreSQL 15.4 Multi-AZ, RTO 15 min / RPO 5 min. */
export const ims2 = {
  id: "ims-2",
  name: "IMS 2.0",
  guide: "002_9f5f6fe6c5f4b073.txt",
  account: { region: "us-east-1" },
  timezone: "UTC",
  runtime: {
    kind: "ecs",
    cluster: "ims-2",
    launchType: "FARGATE",
    services: [{ name: "backend", role: "api", cpuUnits: 512, memoryMiB: 1024 }],
  },
  databases: [
    {
      id: "main",
      engine: "postgres",
      engineVersion: "15.4",
      database: "ims",
      rdsInstanceId: "ims-2-db",
      instanceClass: "db.t3.small",
      multiAz: true,
      credentials: { source: "secrets-manager", secretId: "ims-2/rds" },
    },
  ],
  backup: {
    bucket: "ims-2-backups",
    prefix: "pg_dump",
    retention: { keepDaily: 30, keepWeekly: 8, keepMonthly: 6 },
    compression: 1,
  },
  dr: {
    rtoMinutes: 15,
    rpoMinutes: 5,
    drillSource: "rds-pitr",
    note: "RPO 5 min (WAL every 5 min) cannot be met by a daily pg_dump: drills measure RDS point-in-time restore.",
  },
  health: [
    { target: "backend", path: "/health", port: 8000, intervalSeconds: 30, timeoutSeconds: 10, healthyThreshold: 2 },
  ],
  // "Backend: docker build → ECR"; rollback "auto-redeploys previous version", so the last 5 task-definition
  // revisions keep their images. No retention in the guide: 10 newest, nothing younger than 30 days.
  ecr: {
    repositories: ["ims-backend"],
    keepLast: 10,
    maxAgeDays: 30,
    keepTaskDefinitionRevisions: 5,
    priceGbMonthUsd: 0.1,
  },
  alarms: [],
  notifications: [
    { severity: "warning", channels: ["slack"] },
    { severity: "error", channels: ["slack", "sms"] },
    { severity: "critical", channels: ["slack", "sms", "page"] },
  ],
  offHours: { enabled: false, reason: "The guide sets no off-hours policy." },
  defaults: [
    "Region is not in the guide: us-east-1 until you set yours.",
    "Schedules run in UTC: the guide states its backup time as 3 AM UTC.",
    "Retention keeps 30 dailies, the guide's 30-day retention.",
    "Cluster, service and bucket names are not in the guide.",
    "Notifications follow the guide's ladder: WARNING → Slack; ERROR → Slack + SMS to on-call; CRITICAL → Slack + SMS + page.",
    "The guide's CPU 70 % / memory 80 % / 1000 req/s are autoscaling targets, not alarms: none are deployed besides backup freshness.",
  ],
} satisfies SystemInput;
