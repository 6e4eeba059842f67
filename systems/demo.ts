import type { SystemInput } from "./schema.js";

/**
 * The embedded default: a local PostgreSQL and a local S3-protocol server started by `npm start`.
 * Its shape follows PartPal IMS (inventory of vehicles, parts and sales) so the demo exercises the
 * same policies on real parts.
 */
export const demo = {
  id: "demo",
  name: "Demo (embedded local stack)",
  deploy: false,
  account: { region: "us-east-1" },
  timezone: "Africa/Johannesburg",
  runtime: { kind: "none", reason: "The embedded stack runs no containers." },
  databases: [
    {
      id: "inventory",
      engine: "postgres",
      engineVersion: "15",
      database: "partpal_demo",
      credentials: { source: "env", variable: "OPS_DEMO_DATABASE_URL" },
      tls: { mode: "disable", reason: "The embedded PostgreSQL listens on 127.0.0.1 only and has no certificate." },
    },
  ],
  backup: {
    bucket: "ops-autopilot-demo",
    prefix: "pg_dump",
    retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 },
    compression: 1,
  },
  dr: {
    rtoMinutes: 30,
    rpoMinutes: 24 * 60,
    drillSource: "pg_dump",
    // The embedded stack has one local server: drilling on it is the point, so it opts in explicitly.
    drill: { allowSourceServer: true },
  },
  health: [],
  alarms: [],
  notifications: [{ severity: "info", channels: ["log"] }],
  offHours: { enabled: false, reason: "The embedded stack runs no containers." },
  defaults: [
    "Same DR targets as PartPal IMS, whose data it imitates.",
    "Restore drills run on the demo's own local server (dr.drill.allowSourceServer): there is no other.",
  ],
} satisfies SystemInput;
