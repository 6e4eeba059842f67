import type { SystemInput } from "./schema.js";

/** Error rate in percent: the target group's 5xx responses over its requests (no 5xx datapoint = none). */
const ERROR_RATE = {
  expression: "100 * FILL(m2, 0) / m1",
  metrics: {
    m1: { metric: "RequestCount", statistic: "Sum" },
    m2: { metric: "HTTPCode_Target_5XX_Count", statistic: "Sum" },
  },
} as const;

/** EZ Tracking Board — guide 004: ECS Fargate frontend + backend (2 tasks min), RDS PostgreSQL 14. */
export const ezTracking = {
  id: "ez-tracking",
  name: "EZ Tracking Board",
  guide: "004_81bac6ee50753124.txt",
  account: { region: "us-east-1" },
  timezone: "UTC",
  runtime: {
    kind: "ecs",
    cluster: "ez-tracking",
    launchType: "FARGATE",
    services: [
      { name: "frontend", role: "frontend", cpuUnits: 256, memoryMiB: 512 },
      { name: "backend", role: "api", cpuUnits: 512, memoryMiB: 1024 },
    ],
  },
  databases: [
    {
      id: "main",
      engine: "postgres",
      engineVersion: "14",
      database: "eztracking",
      rdsInstanceId: "ez-tracking-db",
      instanceClass: "db.t3.medium",
      multiAz: true,
      credentials: { source: "secrets-manager", secretId: "ez-tracking/rds" },
    },
  ],
  backup: {
    bucket: "ez-tracking-backups",
    prefix: "pg_dump",
    retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 },
    compression: 1,
  },
  dr: {
    rtoMinutes: 60,
    rpoMinutes: 24 * 60,
    drillSource: "pg_dump",
    note: "The guide states 99.9 % uptime and 'automated backup verification' but no RTO/RPO: 60 min / 24 h are our defaults.",
  },
  health: [
    { target: "frontend", path: "/" },
    { target: "backend", path: "/health" },
  ],
  // The guide: automated rollback on health-check failure, one-click rollback, at most 5 minutes.
  rollback: { maxMinutes: 5 },
  // Frontend and backend images; "one-click rollback" within 5 minutes needs the previous images at hand:
  // the last 5 revisions of each family keep theirs. No retention in the guide: 10 newest, 30 days.
  ecr: {
    repositories: ["ez-tracking-frontend", "ez-tracking-backend"],
    keepLast: 10,
    maxAgeDays: 30,
    keepTaskDefinitionRevisions: 5,
    priceGbMonthUsd: 0.1,
  },
  alarms: [
    {
      id: "latency-warning",
      description: "Response time > 1 s",
      namespace: "AWS/ApplicationELB",
      metric: "TargetResponseTime",
      comparison: ">",
      threshold: 1,
      unit: "Seconds",
      periodSeconds: 60,
      evaluationPeriods: 3,
      severity: "warning",
    },
    {
      id: "latency-critical",
      description: "Response time > 3 s",
      namespace: "AWS/ApplicationELB",
      metric: "TargetResponseTime",
      comparison: ">",
      threshold: 3,
      unit: "Seconds",
      periodSeconds: 60,
      evaluationPeriods: 3,
      severity: "critical",
      remediation: {
        none: "the guide asks for automated rollback on health-check failure, but this alarm does not say which of the two services is failing: set loadBalancers[] and give it {runbook: rollback, input: {service}}; the health probe rolls back per service meanwhile",
      },
    },
    {
      id: "error-rate-warning",
      description: "Error rate > 1 %",
      namespace: "AWS/ApplicationELB",
      metric: "ErrorRate",
      math: ERROR_RATE,
      comparison: ">",
      threshold: 1,
      unit: "Percent",
      periodSeconds: 300,
      severity: "warning",
    },
    {
      id: "error-rate-critical",
      description: "Error rate > 5 %",
      namespace: "AWS/ApplicationELB",
      metric: "ErrorRate",
      math: ERROR_RATE,
      comparison: ">",
      threshold: 5,
      unit: "Percent",
      periodSeconds: 300,
      severity: "critical",
      remediation: {
        none: "the guide asks for automated rollback on health-check failure, but this alarm does not say which of the two services is failing: set loadBalancers[] and give it {runbook: rollback, input: {service}}; the health probe rolls back per service meanwhile",
      },
    },
    {
      id: "cpu-warning",
      description: "CPU > 70 %",
      namespace: "AWS/ECS",
      metric: "CPUUtilization",
      comparison: ">",
      threshold: 70,
      unit: "Percent",
      periodSeconds: 300,
      severity: "warning",
    },
    {
      id: "cpu-critical",
      description: "CPU > 90 %",
      namespace: "AWS/ECS",
      metric: "CPUUtilization",
      comparison: ">",
      threshold: 90,
      unit: "Percent",
      periodSeconds: 300,
      severity: "critical",
      remediation: {
        none: "scale-out within the autoscaling bounds has no runbook yet; ECS Application Auto Scaling already adds tasks at 70 % CPU",
      },
    },
    {
      id: "db-connections-warning",
      description: "DB connections > 80 % of max",
      namespace: "AWS/RDS",
      metric: "DatabaseConnectionsPercent",
      math: {
        expression: "100 * m1 / MAX_CONNECTIONS",
        metrics: { m1: { metric: "DatabaseConnections", statistic: "Maximum" } },
      },
      comparison: ">",
      threshold: 80,
      unit: "Percent",
      periodSeconds: 300,
      severity: "warning",
    },
  ],
  notifications: [
    { severity: "warning", channels: ["slack", "email"] },
    { severity: "error", channels: ["slack", "email"] },
    { severity: "critical", channels: ["slack", "email", "page"] },
  ],
  offHours: { enabled: false, reason: "The guide sets no off-hours policy (2 tasks minimum per service)." },
  defaults: [
    "Region and timezone are not in the guide: us-east-1 and UTC until you set yours.",
    "RTO/RPO are not in the guide: 60 min / 24 h.",
    "Cluster, service, repository and bucket names are not in the guide.",
    "Health probe timing is not in the guide: every 30 s, 5 s timeout, 3 failures (ALB defaults); bake 10 min before a deployment is known-good.",
    "The guide's routes are Slack / email and PagerDuty: warnings and errors (failed runs, stale backups) go to Slack and email, critical also pages.",
    "Error rate is target 5xx ÷ requests per target group (metric math); ALB alarms deploy once loadBalancers[] names the load balancer and target group.",
    "DB connections > 80 % of max needs databases[].maxConnections (the instance's max_connections).",
  ],
} satisfies SystemInput;
