import { describe, expect, it } from "vitest";
import { DRILL_TAGS, scratchInstanceId } from "../../runbooks/restore-drill/names.js";
import type { DrillInstance } from "../../runbooks/restore-drill/rds-instances.js";
import { planRdsStart, type RdsStartSnapshot } from "../../runbooks/restore-drill/rds-plan.js";
import { resolveDrillSettings } from "../../runbooks/restore-drill/settings.js";
import { builtinFleet, findSystem } from "../../systems/index.js";

// The RDS drill start, pinned without RDS: which recovery point, which scratch instance, or why not.

const now = new Date("2026-11-21T10:00:00Z");
const system = findSystem(builtinFleet(), "flash-sale");
const settings = { ...resolveDrillSettings(system, {}), deadlineMinutes: 180, securityGroupIds: [] };

const snapshot = (overrides: Partial<RdsStartSnapshot> = {}): RdsStartSnapshot => ({
  system: "flash-sale",
  database: "main",
  source: "rds-pitr",
  sourceId: "flash-sale-db",
  hasBucket: true,
  drills: [],
  sourceInstance: {
    DBInstanceIdentifier: "flash-sale-db",
    LatestRestorableTime: new Date("2026-11-21T09:57:00Z"),
    DBSubnetGroup: { DBSubnetGroupName: "private" },
    VpcSecurityGroups: [{ VpcSecurityGroupId: "sg-1" }],
  },
  stats: { tableCount: 3, tables: [{ schema: "public", name: "orders", rows: 100, exact: false }] },
  warnings: [],
  ...overrides,
});

const drill = (overrides: Partial<DrillInstance> = {}): DrillInstance => ({
  instanceId: "drill-x",
  arn: "arn:aws:rds:ap-south-1:123456789012:db:drill-x",
  status: "creating",
  drillId: "flash-sale-main-1",
  system: "flash-sale",
  database: "main",
  source: "rds-pitr",
  state: "restoring",
  deadline: new Date("2026-11-21T11:00:00Z"),
  ...overrides,
});

describe("RDS drill start: why not", () => {
  it("no rdsInstanceId: skipped; no bucket: failed (records and plans have nowhere to go)", () => {
    expect(planRdsStart(snapshot({ sourceId: undefined }), settings, now)).toMatchObject({
      kind: "skip",
      status: "skipped",
      reason: "no rdsInstanceId in the catalogue",
    });
    expect(planRdsStart(snapshot({ hasBucket: false }), settings, now)).toMatchObject({
      kind: "skip",
      status: "failed",
      reason: expect.stringMatching(/no backup section/),
    });
  });

  it("a drill of the same database restoring or validating within its deadline: skipped", () => {
    const plan = planRdsStart(snapshot({ drills: [drill()] }), settings, now);
    expect(plan).toMatchObject({ kind: "skip", status: "skipped" });
    expect(plan.kind === "skip" && plan.reason).toMatch(/^drill flash-sale-main-1 is in progress \(instance drill-x/);
    // Deleting, judged, past its deadline, or another database's: not in flight.
    const notInFlight = [
      drill({ status: "deleting" }),
      drill({ state: "passed" }),
      drill({ deadline: new Date("2026-11-21T09:00:00Z") }),
      drill({ database: "other" }),
    ];
    expect(planRdsStart(snapshot({ drills: notInFlight }), settings, now).kind).toBe("start");
  });

  it("the source unknown to RDS, PITR without LatestRestorableTime, no snapshot: failed on the source", () => {
    expect(planRdsStart(snapshot({ sourceInstance: null }), settings, now)).toMatchObject({
      resource: "flash-sale-db",
      status: "failed",
      reason: "source DB instance not found",
    });
    const noPitr = planRdsStart(snapshot({ sourceInstance: { DBInstanceIdentifier: "flash-sale-db" } }), settings, now);
    expect(noPitr.kind === "skip" && noPitr.reason).toMatch(/no LatestRestorableTime: automated backups are off/);
    const noSnap = planRdsStart(snapshot({ source: "rds-snapshot", snapshot: null }), settings, now);
    expect(noSnap.kind === "skip" && noSnap.reason).toBe("no available snapshot of the source");
  });
});

describe("RDS drill start: the restore", () => {
  it("PITR: restores the latest restorable time into a private, tagged, single-AZ instance", () => {
    const plan = planRdsStart(snapshot(), settings, now);
    if (plan.kind !== "start") throw new Error(plan.reason);
    expect(plan.instanceId).toBe(scratchInstanceId("flash-sale", "main", now));
    expect(plan.recoveryPoint).toEqual(new Date("2026-11-21T09:57:00Z"));
    expect(plan.described.recoveryPointAgeSeconds).toBe(180);
    expect(plan.request).toMatchObject({
      MultiAZ: false,
      PubliclyAccessible: false,
      DeletionProtection: false,
      BackupRetentionPeriod: 0,
      DBSubnetGroupName: "private",
      VpcSecurityGroupIds: ["sg-1"],
    });
    const tags = Object.fromEntries(plan.request.Tags.map((t) => [t.Key, t.Value]));
    expect(tags[DRILL_TAGS.state]).toBe("restoring");
    expect(tags[DRILL_TAGS.deadline]).toBe("2026-11-21T13:00:00.000Z");
    expect(tags[DRILL_TAGS.recoveryPoint]).toBe("2026-11-21T09:57:00.000Z");
    expect(plan.pending).toMatchObject({ tableCount: 3, deadline: "2026-11-21T13:00:00.000Z", warnings: [] });
  });

  it("snapshot: restores the newest snapshot; the settings' network wins over the source's", () => {
    const snap = { DBSnapshotIdentifier: "rds:ode-2026-11-21", SnapshotCreateTime: new Date("2026-11-21T04:00:00Z") };
    const plan = planRdsStart(
      snapshot({ source: "rds-snapshot", snapshot: snap }),
      { ...settings, subnetGroup: "drills", securityGroupIds: ["sg-drill"] },
      now,
    );
    if (plan.kind !== "start") throw new Error(plan.reason);
    expect(plan.snapshotId).toBe("rds:ode-2026-11-21");
    expect(plan.described.from).toBe("snapshot rds:ode-2026-11-21");
    expect(plan.request).toMatchObject({ DBSubnetGroupName: "drills", VpcSecurityGroupIds: ["sg-drill"] });
    expect(plan.pending.snapshot).toBe("rds:ode-2026-11-21");
  });

  it("source statistics unreadable: the drill starts, and says counts will not be compared", () => {
    const plan = planRdsStart(snapshot({ stats: { error: "connection refused" }, warnings: ["rpo"] }), settings, now);
    if (plan.kind !== "start") throw new Error(plan.reason);
    expect(plan.pending.tables).toEqual([]);
    expect(plan.pending.tableCount).toBeUndefined();
    expect(plan.pending.warnings).toEqual([
      "rpo",
      "source statistics unavailable (connection refused): table and row counts will not be compared",
    ]);
  });
});
