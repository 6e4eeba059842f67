import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { DescribeServicesCommand, ECSClient } from "@aws-sdk/client-ecs";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dumpKey, manifestKey } from "../../runbooks/backup/layout.js";
import { LAST_ROLLBACK_TAG } from "../../runbooks/rollback/tags.js";
import { formatRecord, RECORD_TAG } from "../../runbooks/scaling/tags.js";
import { statusRunbook } from "../../runbooks/status/index.js";
import { testContext } from "../helpers/context.js";
import { manifestFor, memoryBucket } from "../helpers/s3-memory.js";

const NOW = new Date("2026-11-21T10:00:00Z");
const HOUR = 3_600_000;
const SYSTEM = "flash-sale";
const BUCKET = "flash-sale-backups";

const ecs = mockClient(ECSClient);
const cloudwatch = mockClient(CloudWatchClient);
let bucket: ReturnType<typeof memoryBucket>;

/** DescribeServices with `include: ["TAGS"]`, as the ECS API reference shows it. */
function serviceResponse(tags: { key: string; value: string }[]) {
  return {
    services: [
      {
        serviceArn: "arn:aws:ecs:ap-south-1:123456789012:service/flash-sale-cluster/flash-sale-service",
        serviceName: "flash-sale-service",
        clusterArn: "arn:aws:ecs:ap-south-1:123456789012:cluster/flash-sale-cluster",
        status: "ACTIVE",
        desiredCount: 1,
        runningCount: 1,
        pendingCount: 0,
        taskDefinition: "arn:aws:ecs:ap-south-1:123456789012:task-definition/flash-sale-app:42",
        deployments: [],
        tags,
      },
    ],
    failures: [],
  };
}

function storeBackup(at: Date) {
  const key = dumpKey("pg_dump", SYSTEM, "main", at);
  bucket.objects.set(key, "x".repeat(10));
  bucket.objects.set(
    manifestKey(key),
    JSON.stringify(manifestFor({ key, bytes: 10, at, system: SYSTEM, database: "main", bucket: BUCKET })),
  );
}

function storeDrill() {
  bucket.objects.set(
    `drills/${SYSTEM}/20261120T030000Z-main.json`,
    JSON.stringify({
      version: 1,
      drillId: "d1",
      system: SYSTEM,
      database: "main",
      source: "pg_dump",
      outcome: "passed",
      startedAt: "2026-11-20T03:00:00.000Z",
      finishedAt: "2026-11-20T03:12:00.000Z",
      rto: { objective: "RTO", verdict: "met", targetMs: 30 * 60_000, measuredMs: 12 * 60_000 },
      rpo: { objective: "RPO", verdict: "missed", targetMs: 5 * 60_000, measuredMs: 3 * HOUR },
      restoredFrom: {},
      scratch: "drill_x",
      checks: [],
      cleanup: { status: "removed" },
      warnings: [],
      summary: "drill passed",
    }),
  );
}

beforeEach(() => {
  bucket = memoryBucket({ bucket: BUCKET });
  ecs.reset();
  cloudwatch.reset();
  const record = formatRecord({
    desired: 10,
    bounds: { min: 10, max: 50 },
    floor: 1,
    at: new Date(NOW.getTime() - 3 * HOUR),
  });
  ecs.on(DescribeServicesCommand).resolves(
    serviceResponse([
      { key: RECORD_TAG, value: record },
      {
        key: LAST_ROLLBACK_TAG,
        value: "v1 at=2026-11-19T08:00:00Z from=flash-sale-app:41 to=flash-sale-app:40 trigger=alarm",
      },
    ]),
  );
  cloudwatch.on(DescribeAlarmsCommand).resolves({
    MetricAlarms: [
      { AlarmName: "ops-autopilot-production-flash-sale-backup-age-main", StateValue: "ALARM" },
      { AlarmName: "ops-autopilot-production-ode-api-latency", StateValue: "ALARM" },
    ],
    CompositeAlarms: [],
  });
});
afterEach(() => bucket.s3.reset());

const run = () => statusRunbook.run(testContext({ system: SYSTEM, now: NOW }), {});
const reasonOf = (report: Awaited<ReturnType<typeof run>>, prefix: string) =>
  report.actions.find((a) => a.resource.startsWith(prefix))?.reason;

describe("status", () => {
  it("reads capacity and off-hours, the last backup against its limit, the last drill, open alarms, the last rollback", async () => {
    storeBackup(new Date(NOW.getTime() - 2 * HOUR));
    storeDrill();
    const report = await run();
    expect(report.status).toBe("succeeded");
    expect(reasonOf(report, "capacity/flash-sale-service")).toBe(
      "1/1 running; off-hours since 2026-11-21T07:00:00.000Z (3.0 h), restores to 10",
    );
    expect(reasonOf(report, "backup/main")).toMatch(/^last verified 2026-11-21T08:00:00\.000Z, 2.0 h old: within the /);
    expect(reasonOf(report, "drill/")).toBe(
      "last drill 2026-11-20T03:00:00.000Z passed: RTO met (12 min against 30 min), RPO missed (3.0 h against 5 min)",
    );
    // Only this system's alarm: ode's is another system's.
    expect(reasonOf(report, "alarms/")).toBe("1 in ALARM: ops-autopilot-production-flash-sale-backup-age-main");
    expect(reasonOf(report, "rollback/")).toBe(
      "last rollback 2026-11-19T08:00:00.000Z from flash-sale-app:41 to flash-sale-app:40 (alarm)",
    );
    expect(report.summary).toBe(
      "flash-sale: 1/1 tasks (off-hours); backups fresh; drill RTO met, RPO missed; 1 alarm(s)",
    );
    // Reads only: DescribeAlarms asked for ALARM state under our prefix.
    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toMatchObject({
      StateValue: "ALARM",
      AlarmNamePrefix: "ops-autopilot-",
    });
  });

  it("in a deployment (OPS_STAGE set), shows only its own stage's alarms, asking for that stage's prefix", async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        { AlarmName: "ops-autopilot-production-flash-sale-backup-age-main", StateValue: "ALARM" },
        { AlarmName: "ops-autopilot-staging-flash-sale-backup-age-main", StateValue: "ALARM" },
        // Ends like the system's alarm, but is not one of this stage's names.
        { AlarmName: "ops-autopilot-staging-x-flash-sale-backup-age-main", StateValue: "ALARM" },
      ],
    });
    const report = await statusRunbook.run(
      testContext({ system: SYSTEM, now: NOW, env: { OPS_STAGE: "staging" } }),
      {},
    );
    expect(reasonOf(report, "alarms/")).toBe("1 in ALARM: ops-autopilot-staging-flash-sale-backup-age-main");
    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)[0]?.args[0].input).toMatchObject({
      AlarmNamePrefix: "ops-autopilot-staging-",
    });
  });

  it("says a backup is over its limit, and that there is no drill yet", async () => {
    storeBackup(new Date(NOW.getTime() - 40 * HOUR));
    const report = await run();
    expect(reasonOf(report, "backup/main")).toMatch(/40\.0 h old: OVER the /);
    expect(reasonOf(report, "drill/")).toBe("no drill recorded yet");
    expect(report.summary).toContain("backup OVER limit (main)");
  });

  it("a part that cannot be read says so in its line; the other parts are still shown", async () => {
    bucket.s3.on(ListObjectsV2Command).rejects(Object.assign(new Error("Access Denied"), { name: "AccessDenied" }));
    const report = await run();
    expect(report.status).toBe("partial");
    expect(report.actions.find((a) => a.resource === "backup/backups")).toMatchObject({
      status: "failed",
      reason: expect.stringMatching(/^the backups could not be read: /),
    });
    expect(reasonOf(report, "drill/")).toMatch(/^the drill history could not be read: /);
    expect(reasonOf(report, "capacity/flash-sale-service")).toMatch(/^1\/1 running/);
    expect(reasonOf(report, "alarms/")).toMatch(/^1 in ALARM/);
    expect(report.summary).toContain("unreadable: backup, drill");
  });

  it("declares read-only IAM (no Put, Update, Delete or Tag action)", () => {
    const actions = statusRunbook.permissions(testContext({ system: SYSTEM }).system).flatMap((p) => p.actions);
    expect(actions.sort()).toEqual([
      "cloudwatch:DescribeAlarms",
      "ecs:DescribeServices",
      "s3:GetObject",
      "s3:ListBucket",
    ]);
  });

  it("refuses input it does not know", () => {
    expect(() => statusRunbook.input.parse({ system: "x" })).toThrow();
  });
});
