import type { SystemInput } from "./schema.js";

/** ODE — guide 003: EKS 1.29 in us-east-1, api and worker deployments, RDS PostgreSQL 15.4 Multi-AZ. */
export const ode = {
  id: "ode",
  name: "ODE",
  guide: "003_c38544424a46be78.txt",
  account: { region: "us-east-1" },
  timezone: "America/New_York",
  runtime: {
    kind: "eks",
    cluster: "ode-production-cluster",
    namespace: "ode",
    nodeType: "t3.large",
    deployments: [
      { name: "ode-api", minReplicas: 2, maxReplicas: 10 },
      { name: "ode-worker", minReplicas: 2, maxReplicas: 20 },
    ],
  },
  databases: [
    {
      id: "main",
      engine: "postgres",
      engineVersion: "15.4",
      database: "odedb",
      rdsInstanceId: "ode-postgres",
      multiAz: true,
      credentials: { source: "secrets-manager", secretId: "ode/rds" },
    },
  ],
  backup: {
    bucket: "ode-backups",
    prefix: "pg_dump",
    retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 },
    compression: 1,
  },
  dr: {
    rtoMinutes: 60,
    rpoMinutes: 24 * 60,
    drillSource: "rds-snapshot",
    note: "The guide states no RTO/RPO (7-day automated backups, restore from snapshot): 60 min / 24 h are our defaults.",
  },
  health: [
    { target: "ode-api", path: "/health" },
    { target: "ode-worker", path: "/health", port: 9090 },
  ],
  // CD pushes on main and on tags (release tags are protected by default); rollouts are `kubectl set image`
  // with automatic rollback, so ReplicaSet history matters: EKS is planned only until the Kubernetes
  // client exists (runbooks/ecr-cleanup). The guide budgets ~$10/month for ECR.
  ecr: {
    repositories: ["ode-api", "ode-worker"],
    keepLast: 10,
    maxAgeDays: 30,
    keepTaskDefinitionRevisions: 5,
    priceGbMonthUsd: 0.1,
  },
  alarms: [],
  notifications: [],
  offHours: {
    enabled: true,
    start: "20:00",
    end: "07:00",
    floor: 2,
    targets: ["ode-worker"],
    weekendsOff: true,
    holidays: [],
  },
  defaults: [
    "No notification routes in the guide: alarms and reports go to the log only until notifications[] names channels.",
    "Worker nodes are t3.large (the guide's cost table: 3x t3.large workers): off-hours savings are priced as a share of one.",
    "Timezone America/New_York is inferred from the region us-east-1.",
    "The guide says 'scale down worker pods off-peak' without hours: 20:00-07:00 and weekends, floor 2 (the HPA minimum).",
    "RTO/RPO are not in the guide: 60 min / 24 h.",
  ],
} satisfies SystemInput;
