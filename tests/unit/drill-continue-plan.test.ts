import { describe, expect, it } from "vitest";
import { planContinue } from "../../runbooks/drill-continue/plan.js";
import type { DrillInstance } from "../../runbooks/restore-drill/rds-instances.js";

// drill-continue's state machine per RDS status and drill-state tag, without RDS.

const now = new Date("2026-11-21T12:00:00Z");
const drill = (overrides: Partial<DrillInstance> = {}): DrillInstance => ({
  instanceId: "drill-x",
  arn: "arn:aws:rds:ap-south-1:123456789012:db:drill-x",
  status: "available",
  drillId: "flash-sale-main-1",
  system: "flash-sale",
  database: "main",
  source: "rds-pitr",
  state: "restoring",
  deadline: new Date("2026-11-21T13:00:00Z"),
  ...overrides,
});
const plan = (d: DrillInstance | undefined) => planContinue({ found: true, drill: d }, "flash-sale", now);

describe("drill-continue: what is never touched", () => {
  it("gone, untagged, another system's, deleting: skipped with the reason", () => {
    expect(planContinue({ found: false }, "flash-sale", now)).toEqual({
      kind: "skip",
      reason: "instance not found (already removed)",
    });
    expect(plan(undefined)).toEqual({ kind: "skip", reason: "not a drill instance (no drill tags): left alone" });
    expect(plan(drill({ system: "ode" }))).toEqual({ kind: "skip", reason: "a drill of system ode, not flash-sale" });
    expect(plan(drill({ status: "deleting" }))).toEqual({ kind: "skip", reason: "already being deleted" });
  });
});

describe("drill-continue: per drill-state and RDS status", () => {
  it("judged before: delete only, never validate twice", () => {
    expect(plan(drill({ state: "passed" }))).toEqual({ kind: "delete", state: "passed" });
    expect(plan(drill({ state: "failed", status: "failed" }))).toEqual({ kind: "delete", state: "failed" });
  });

  it("validating: another invocation holds the claim (duplicate event)", () => {
    expect(plan(drill({ state: "validating:abcd1234" }))).toEqual({
      kind: "skip",
      reason: "another invocation is validating this drill (duplicate event)",
    });
  });

  it.each(["creating", "modifying", "rebooting"])("%s before the deadline: wait for the next event", (status) => {
    expect(plan(drill({ status }))).toEqual({
      kind: "skip",
      reason: `instance is ${status}, not yet available: waiting for the next event (or the janitor)`,
    });
  });

  it.each(["available", "backing-up", "storage-optimization", "configuring-enhanced-monitoring"])(
    "%s: validate",
    (status) => {
      const step = plan(drill({ status }));
      expect(step).toMatchObject({ kind: "validate", broken: false });
      expect(step).not.toHaveProperty("failure");
    },
  );

  it.each(["failed", "incompatible-restore", "storage-full"])(
    "%s: the drill fails, is recorded and deleted",
    (status) => {
      expect(plan(drill({ status }))).toMatchObject({
        kind: "validate",
        broken: true,
        failure: `the restore ended in status ${status}`,
      });
    },
  );

  it("past its deadline, whatever the status: fails without connecting", () => {
    const late = drill({ status: "creating", deadline: new Date("2026-11-21T12:00:00Z") });
    expect(plan(late)).toMatchObject({
      kind: "validate",
      broken: false,
      failure: "the drill's deadline 2026-11-21T12:00:00.000Z passed before the instance was validated",
    });
  });
});
