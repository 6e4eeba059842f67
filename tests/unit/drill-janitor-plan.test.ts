import { describe, expect, it } from "vitest";
import {
  judgeCheckRole,
  judgeInstance,
  judgePendingObject,
  judgeScratchDatabase,
} from "../../runbooks/drill-janitor/plan.js";
import { scratchDatabaseName, scratchDatabasePrefix } from "../../runbooks/restore-drill/names.js";
import { JANITOR_GRACE_MS } from "../../runbooks/restore-drill/plan.js";
import type { DrillInstance } from "../../runbooks/restore-drill/rds-instances.js";

// The janitor's keep/remove per leftover, with its reason, without PostgreSQL, RDS or S3.

const now = new Date("2026-11-21T12:00:00Z");
const facts = {
  system: "demo",
  prefixes: [scratchDatabasePrefix("demo", "inventory")],
  defaultDeadlineMinutes: 90,
  now,
};
const comment = (system: string, deadline: string) => ({
  opsAutopilot: "restore-drill" as const,
  drillId: "demo-inventory-x",
  system,
  database: "inventory",
  startedAt: "2026-11-21T10:00:00.000Z",
  deadline,
});

describe("janitor: scratch databases", () => {
  it("labelled, of this system: kept until the COMMENT's deadline, removed after it", () => {
    const keep = judgeScratchDatabase({ name: "drill_a", comment: comment("demo", "2026-11-21T12:00:01.000Z") }, facts);
    expect(keep).toEqual({ kind: "keep", reason: "drill demo-inventory-x in progress until 2026-11-21T12:00:01.000Z" });
    const gone = judgeScratchDatabase({ name: "drill_a", comment: comment("demo", "2026-11-21T12:00:00.000Z") }, facts);
    expect(gone).toEqual({
      kind: "remove",
      reason: "past its deadline 2026-11-21T12:00:00.000Z (drill demo-inventory-x)",
    });
  });

  it("labelled by another system: never touched, whatever its name says", () => {
    const name = scratchDatabaseName("demo", "inventory", new Date("2026-11-20T00:00:00Z"));
    expect(judgeScratchDatabase({ name, comment: comment("ims", "2026-11-20T01:00:00.000Z") }, facts)).toEqual({
      kind: "ignore",
    });
  });

  it("unlabelled with this system's exact name: deadline from the name's start + default + grace", () => {
    const started = new Date("2026-11-21T10:35:00Z");
    const name = scratchDatabaseName("demo", "inventory", started);
    const deadline = new Date(started.getTime() + 90 * 60_000 + JANITOR_GRACE_MS);
    expect(judgeScratchDatabase({ name }, facts)).toEqual({
      kind: "keep",
      reason: `drill ${name} in progress until ${deadline.toISOString()}`,
    });
    const old = scratchDatabaseName("demo", "inventory", new Date("2026-11-21T08:00:00Z"));
    expect(judgeScratchDatabase({ name: old }, facts)).toMatchObject({
      kind: "remove",
      reason: expect.stringMatching(/\(no COMMENT: deadline from its name\)$/),
    });
  });

  it("unlabelled look-alikes and other systems' names are not ours", () => {
    expect(judgeScratchDatabase({ name: `${facts.prefixes[0]}reports` }, facts)).toEqual({ kind: "ignore" });
    const other = scratchDatabaseName("ims", "inventory", new Date("2026-11-20T00:00:00Z"));
    expect(judgeScratchDatabase({ name: other }, facts)).toEqual({ kind: "ignore" });
  });
});

describe("janitor: check roles", () => {
  const role = (system: string, deadline: string) => ({
    name: "drill_check_0123456789abcdef0123",
    comment: {
      opsAutopilot: "restore-drill-check-role" as const,
      drillId: "d",
      system,
      database: "inventory",
      scratchDatabase: "drill_x",
      deadline,
    },
  });

  it("kept while in use, removed past its deadline, another system's or unlabelled never", () => {
    expect(judgeCheckRole(role("demo", "2026-11-21T13:00:00.000Z"), "demo", now)).toEqual({
      kind: "keep",
      reason: "in use until 2026-11-21T13:00:00.000Z",
    });
    expect(judgeCheckRole(role("demo", "2026-11-21T11:00:00.000Z"), "demo", now)).toEqual({
      kind: "remove",
      reason: "past its deadline 2026-11-21T11:00:00.000Z",
    });
    expect(judgeCheckRole(role("ims", "2026-11-21T11:00:00.000Z"), "demo", now)).toEqual({ kind: "ignore" });
    expect(judgeCheckRole({ name: "drill_check_0123456789abcdef0123" }, "demo", now)).toEqual({ kind: "ignore" });
  });
});

describe("janitor: scratch RDS instances", () => {
  const instance = (overrides: Partial<DrillInstance> = {}): DrillInstance => ({
    instanceId: "drill-ims-abc-main-def-20261121t100000z",
    arn: "arn:aws:rds:us-east-1:123456789012:db:drill-ims",
    status: "creating",
    drillId: "ims-main-x",
    system: "ims",
    database: "main",
    source: "rds-snapshot",
    state: "restoring",
    deadline: new Date("2026-11-21T13:00:00Z"),
    ...overrides,
  });
  const rules = { defaultDeadlineMinutes: 180, continueAvailable: true, now };

  it("deleting: kept; judged but not deleted: removed without a timed-out record", () => {
    expect(judgeInstance(instance({ status: "deleting" }), rules)).toEqual({
      kind: "keep",
      reason: "already being deleted",
    });
    expect(judgeInstance(instance({ state: "passed", status: "available" }), rules)).toEqual({
      kind: "remove",
      reason: "drill already passed; its own deletion did not happen",
      timedOut: false,
    });
  });

  it("in progress: kept, or continued when available and still restoring (the lost event)", () => {
    expect(judgeInstance(instance(), rules)).toEqual({
      kind: "keep",
      reason: "drill ims-main-x in progress (creating, restoring) until 2026-11-21T13:00:00.000Z",
    });
    expect(judgeInstance(instance({ status: "available" }), rules)).toEqual({ kind: "continue" });
    expect(judgeInstance(instance({ status: "available" }), { ...rules, continueAvailable: false }).kind).toBe("keep");
    expect(judgeInstance(instance({ status: "available", state: "validating:x" }), rules).kind).toBe("keep");
  });

  it("past its deadline: removed and recorded as timed out; without a tag the deadline is start + default", () => {
    const late = judgeInstance(instance({ deadline: new Date("2026-11-21T11:00:00Z") }), rules);
    expect(late).toMatchObject({ kind: "remove", timedOut: true, deadline: new Date("2026-11-21T11:00:00Z") });
    const { deadline: _, ...untagged } = instance();
    // Started 10:00 (from its identifier) + 180 min = 13:00: still in progress at 12:00.
    expect(judgeInstance(untagged, rules).kind).toBe("keep");
    expect(judgeInstance(untagged, { ...rules, defaultDeadlineMinutes: 60 })).toMatchObject({
      kind: "remove",
      reason: expect.stringContaining("(no deadline tag: start + default)"),
    });
  });

  it("no deadline and no start time: refused, a person must look", () => {
    const { deadline: _, ...untagged } = instance({ instanceId: "drill-ims-unnamed" });
    expect(judgeInstance(untagged, rules)).toEqual({
      kind: "refuse",
      reason: "drill ims-main-x has no deadline or start time: not deleted, check it by hand",
    });
  });
});

describe("janitor: pending plans and claims", () => {
  const base = { live: new Set(["drill-live"]), claimsPrefix: "drills/ims/pending/claims/", now };

  it("kept while its instance lives or its deadline is ahead; removed under its own action name after", () => {
    const plan = { instanceId: "drill-gone", deadline: "2026-11-21T11:00:00.000Z" };
    expect(judgePendingObject({ ...base, key: "drills/ims/pending/drill-gone.json", plan })).toBe("delete-drill-plan");
    expect(judgePendingObject({ ...base, key: "drills/ims/pending/claims/drill-gone.json", plan })).toBe(
      "delete-drill-claim",
    );
    expect(
      judgePendingObject({ ...base, key: "k", plan: { ...plan, deadline: "2026-11-21T13:00:00.000Z" } }),
    ).toBeUndefined();
    expect(judgePendingObject({ ...base, key: "drills/ims/pending/drill-live.json" })).toBeUndefined();
    // Unreadable: no deadline, its instance alone decides.
    expect(judgePendingObject({ ...base, key: "drills/ims/pending/drill-gone.json" })).toBe("delete-drill-plan");
  });
});
