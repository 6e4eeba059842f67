import { describe, expect, it } from "vitest";
import { ValidationError } from "../../lib/errors.js";
import { chunk, createLimiter, mapPool } from "../../lib/pool.js";
import { isThrottlingError, retryThrottled } from "../../lib/retry.js";
import { decideScaleDown, decideScaleUp, type ScaleDownInput } from "../../runbooks/scaling/decide.js";
import { deploymentActivity } from "../../runbooks/scaling/ecs.js";
import { TagFormatError } from "../../runbooks/scaling/errors.js";
import { resolvePrice } from "../../runbooks/scaling/prices.js";
import { estimateSavings } from "../../runbooks/scaling/savings.js";
import {
  type CapacityRecord,
  formatRecord,
  KEEP_AWAKE_TAG,
  OPT_OUT_TAG,
  parseRecord,
  RECORD_TAG,
  readKeepAwake,
  readOptOut,
  readRecord,
} from "../../runbooks/scaling/tags.js";
import { resolveUntil, untilSyntaxProblem } from "../../runbooks/scaling/until.js";
import {
  nightHours,
  type OffHoursPolicy,
  offHoursEnd,
  offHoursState,
  stateForRun,
  weeklyOffHours,
} from "../../runbooks/scaling/window.js";

const at = (iso: string) => new Date(iso);
const NOW = at("2026-11-23T16:00:30Z"); // Monday 18:00:30 SAST

describe("the record tag", () => {
  it("round-trips with and without autoscaling bounds, in characters every AWS tag accepts", () => {
    const withBounds: CapacityRecord = { desired: 4, bounds: { min: 2, max: 10 }, floor: 1, at: NOW };
    const text = formatRecord(withBounds);
    expect(text).toBe("v1 desired=4 min=2 max=10 floor=1 at=2026-11-23T16:00:30Z");
    expect(text).toMatch(/^[\w .:/=+\-@]{1,256}$/);
    expect(parseRecord(text)).toEqual(withBounds);
    const plain = parseRecord("v1 desired=3 floor=1 at=2026-11-23T16:00:30Z");
    expect(plain).toEqual({ desired: 3, floor: 1, at: NOW });
    expect(plain.bounds).toBeUndefined();
  });

  it.each([
    ["v2 desired=4 floor=1 at=2026-11-23T16:00:30Z", /v1/],
    ["v1 desired=4 at=2026-11-23T16:00:30Z", /floor is missing/],
    ["v1 desired=four floor=1 at=2026-11-23T16:00:30Z", /whole number/],
    ["v1 desired=4 min=2 floor=1 at=2026-11-23T16:00:30Z", /together/],
    ["v1 desired=4 min=5 max=2 floor=1 at=2026-11-23T16:00:30Z", /above max/],
    ["v1 desired=4 desired=5 floor=1 at=2026-11-23T16:00:30Z", /twice/],
    ["v1 desired=4 floor=1 at=yesterday", /ISO instant/],
    ["v1 desired=4 floor=1 at=2026-11-23T16:00:30Z colour=blue", /unexpected/],
    ["", /v1/],
  ])("rejects %j rather than guess", (value, message) => {
    expect(() => parseRecord(value)).toThrow(TagFormatError);
    expect(() => parseRecord(value)).toThrow(message);
  });

  it("reads none / present / invalid from a service's tags", () => {
    expect(readRecord(new Map()).kind).toBe("none");
    expect(readRecord(new Map([[RECORD_TAG, "v1 desired=2 floor=1 at=2026-11-23T16:00:30Z"]])).kind).toBe("present");
    const invalid = readRecord(new Map([[RECORD_TAG, "desired=2"]]));
    expect(invalid.kind).toBe("invalid");
  });
});

describe("opt-out fails safe", () => {
  it.each([
    ["true", true],
    ["yes", true],
    ["", true],
    ["ture", true],
    ["0", true],
    ["false", false],
    [" FALSE ", false],
  ])("value %j → opted out: %s", (value, optedOut) => {
    expect(readOptOut(new Map([[OPT_OUT_TAG, value]])).optedOut).toBe(optedOut);
  });

  it("no tag means in scope", () => {
    expect(readOptOut(new Map()).optedOut).toBe(false);
  });
});

describe("keep-awake tag", () => {
  it("is active before its instant and expires by itself after it", () => {
    const tags = new Map([[KEEP_AWAKE_TAG, "2026-11-23T20:00:00Z"]]);
    expect(readKeepAwake(tags, NOW)).toEqual({ kind: "active", until: at("2026-11-23T20:00:00Z") });
    expect(readKeepAwake(tags, at("2026-11-23T20:00:00Z")).kind).toBe("expired");
  });

  it("an unreadable value is reported as such (scale-down then leaves the service awake)", () => {
    expect(readKeepAwake(new Map([[KEEP_AWAKE_TAG, "tonight"]]), NOW)).toEqual({ kind: "invalid", value: "tonight" });
  });
});

function downInput(over: Partial<ScaleDownInput> = {}): ScaleDownInput {
  return {
    floor: 1,
    current: { desired: 4 },
    record: { kind: "none" },
    optOut: { optedOut: false },
    keepAwake: { kind: "none" },
    deployment: { lastDeployedAt: at("2026-11-20T09:00:00Z") },
    graceMinutes: 30,
    now: NOW,
    endedSince: () => false,
    formatTime: (d) => d.toISOString(),
    ...over,
  };
}

describe("decideScaleDown", () => {
  it("without autoscaling: records the desired count and lowers it to the floor", () => {
    const d = decideScaleDown(downInput());
    expect(d).toMatchObject({ kind: "lower", target: { desired: 1 }, write: { desired: 4, floor: 1, at: NOW } });
    if (d.kind === "lower") expect(d.target.bounds).toBeUndefined();
  });

  it("with autoscaling: records min/max and lowers both to at most the floor", () => {
    const d = decideScaleDown(downInput({ current: { desired: 6, bounds: { min: 2, max: 10 } } }));
    expect(d).toMatchObject({
      kind: "lower",
      target: { desired: 1, bounds: { min: 1, max: 1 } },
      write: { desired: 6, bounds: { min: 2, max: 10 }, floor: 1 },
    });
  });

  it("never raises a min already below the floor", () => {
    const d = decideScaleDown(downInput({ floor: 2, current: { desired: 5, bounds: { min: 0, max: 8 } } }));
    expect(d).toMatchObject({ kind: "lower", target: { desired: 2, bounds: { min: 0, max: 2 } } });
  });

  it("a second run keeps the original record instead of writing the floor over it", () => {
    const original: CapacityRecord = { desired: 4, floor: 1, at: at("2026-11-22T16:00:00Z") };
    const atFloor = decideScaleDown(
      downInput({ current: { desired: 1 }, record: { kind: "present", record: original } }),
    );
    expect(atFloor).toMatchObject({ kind: "skip", record: original });
    expect(atFloor.kind === "skip" && atFloor.reason).toMatch(/already at the floor; original desired 4/);
    // A redeploy reset the count at night: lower again, keep the record.
    const reset = decideScaleDown(
      downInput({ current: { desired: 3 }, record: { kind: "present", record: original } }),
    );
    expect(reset).toMatchObject({ kind: "lower", target: { desired: 1 }, record: original });
    expect(reset.kind === "lower" && reset.write).toBeUndefined();
  });

  it("a record left from an earlier night (scale-up restored but could not untag) is replaced, not restored", () => {
    const leftover: CapacityRecord = { desired: 4, floor: 1, at: at("2026-11-20T16:00:00Z") };
    const input = { record: { kind: "present", record: leftover }, endedSince: (d: Date) => d < NOW } as const;
    // The team raised the service to 6 during the day: 6 is the original now, not the old 4.
    const raised = decideScaleDown(downInput({ ...input, current: { desired: 6 } }));
    expect(raised).toMatchObject({ kind: "lower", write: { desired: 6, at: NOW }, replaces: leftover });
    // Still at the floor (the scale-up never restored it): the record stays the original.
    const atFloor = decideScaleDown(downInput({ ...input, current: { desired: 1 } }));
    expect(atFloor).toMatchObject({ kind: "skip", record: leftover });
  });

  it("a service the team set below the floor stays where it is", () => {
    const d = decideScaleDown(downInput({ current: { desired: 0 } }));
    expect(d.kind).toBe("skip");
    expect(d.kind === "skip" && d.reason).toMatch(/below the floor 1/);
  });

  it("a service already at the floor with nothing recorded records nothing", () => {
    expect(decideScaleDown(downInput({ current: { desired: 1 } }))).toMatchObject({ kind: "skip" });
    expect(decideScaleDown(downInput({ current: { desired: 1 } }))).not.toHaveProperty("record");
  });

  it("skips a deployment in progress and one younger than the grace period, saying why", () => {
    const rolling = decideScaleDown(downInput({ deployment: { inProgress: "deployment ecs-svc/1 is rolling out" } }));
    expect(rolling.kind === "skip" && rolling.reason).toMatch(/deployment in progress.*later run/);
    const fresh = decideScaleDown(downInput({ deployment: { lastDeployedAt: at("2026-11-23T15:50:30Z") } }));
    expect(fresh.kind === "skip" && fresh.reason).toMatch(/deployed 10 min ago.*30-min grace/);
    const older = decideScaleDown(downInput({ deployment: { lastDeployedAt: at("2026-11-23T15:30:00Z") } }));
    expect(older.kind).toBe("lower");
  });

  it("opt-out and keep-awake win over everything; an unreadable record fails without touching", () => {
    expect(decideScaleDown(downInput({ optOut: { optedOut: true, value: "yes" } })).kind).toBe("skip");
    expect(decideScaleDown(downInput({ keepAwake: { kind: "active", until: at("2026-11-23T20:00:00Z") } })).kind).toBe(
      "skip",
    );
    expect(decideScaleDown(downInput({ keepAwake: { kind: "invalid", value: "x" } })).kind).toBe("skip");
    expect(decideScaleDown(downInput({ keepAwake: { kind: "expired", until: at("2026-11-23T12:00:00Z") } })).kind).toBe(
      "lower",
    );
    const bad = readRecord(new Map([[RECORD_TAG, "garbage"]]));
    expect(decideScaleDown(downInput({ record: bad })).kind).toBe("fail");
  });
});

describe("decideScaleUp", () => {
  const rec = (r: Omit<CapacityRecord, "at">): { kind: "present"; record: CapacityRecord } => ({
    kind: "present",
    record: { ...r, at: NOW },
  });

  it("no record: nothing changes", () => {
    expect(decideScaleUp({ current: { desired: 1 }, record: { kind: "none" } }).kind).toBe("skip");
  });

  it("restores exactly the recorded desired count and bounds", () => {
    const d = decideScaleUp({
      current: { desired: 1, bounds: { min: 1, max: 1 } },
      record: rec({ desired: 4, bounds: { min: 2, max: 10 }, floor: 1 }),
    });
    expect(d).toMatchObject({ kind: "restore", change: true, target: { desired: 4, bounds: { min: 2, max: 10 } } });
  });

  it("leaves a service a team lowered below the floor during the night, keeping the record", () => {
    const d = decideScaleUp({ current: { desired: 0 }, record: rec({ desired: 4, floor: 1 }) });
    expect(d.kind === "skip" && d.reason).toMatch(/below the floor 1.*stays.*record .* is kept/);
  });

  it("does not mistake autoscaling's own scale-in (recorded min below the floor) for a team's change", () => {
    const d = decideScaleUp({
      current: { desired: 0, bounds: { min: 0, max: 1 } },
      record: rec({ desired: 3, bounds: { min: 0, max: 6 }, floor: 1 }),
    });
    expect(d).toMatchObject({ kind: "restore", target: { desired: 3, bounds: { min: 0, max: 6 } } });
  });

  it("keeps a count raised during the night above the record", () => {
    const d = decideScaleUp({ current: { desired: 6 }, record: rec({ desired: 4, floor: 1 }) });
    expect(d).toMatchObject({ kind: "restore", target: { desired: 6 } });
    expect(d.kind === "restore" && d.notes.join()).toMatch(/raised during off-hours/);
  });

  it("a scalable target removed at night: desired restored, bounds noted as not restored", () => {
    const d = decideScaleUp({
      current: { desired: 1 },
      record: rec({ desired: 4, bounds: { min: 2, max: 10 }, floor: 1 }),
    });
    expect(d).toMatchObject({ kind: "restore", target: { desired: 4 } });
    expect(d.kind === "restore" && d.notes.join()).toMatch(/no longer registered/);
  });

  it("already at the recorded capacity: only the record is cleared", () => {
    expect(decideScaleUp({ current: { desired: 4 }, record: rec({ desired: 4, floor: 1 }) })).toMatchObject({
      kind: "restore",
      change: false,
    });
  });
});

describe("deploymentActivity (DescribeServices deployments/taskSets)", () => {
  const created = at("2026-11-23T15:50:00Z");
  it("sees a rollout IN_PROGRESS, two live deployments, and a blue/green task set", () => {
    expect(
      deploymentActivity({
        deployments: [{ id: "ecs-svc/2", status: "PRIMARY", rolloutState: "IN_PROGRESS", createdAt: created }],
      }).inProgress,
    ).toMatch(/rolling out/);
    expect(
      deploymentActivity({
        deployments: [
          { id: "ecs-svc/2", status: "PRIMARY", rolloutState: "COMPLETED", createdAt: created },
          { id: "ecs-svc/1", status: "ACTIVE", rolloutState: "COMPLETED", createdAt: at("2026-11-01T00:00:00Z") },
        ],
      }).inProgress,
    ).toMatch(/2 deployments are live/);
    expect(
      deploymentActivity({
        taskSets: [
          { id: "ecs-svc/9", status: "PRIMARY", createdAt: at("2026-11-01T00:00:00Z") },
          { id: "ecs-svc/10", status: "ACTIVE", createdAt: created },
        ],
      }).inProgress,
    ).toMatch(/blue\/green/);
  });

  it("reports the newest start and nothing in progress for a settled service", () => {
    const activity = deploymentActivity({
      deployments: [
        { id: "ecs-svc/2", status: "PRIMARY", rolloutState: "COMPLETED", createdAt: created, updatedAt: NOW },
      ],
    });
    expect(activity).toEqual({ lastDeployedAt: created });
  });
});

const partpalLike: OffHoursPolicy = {
  enabled: true,
  start: "18:00",
  end: "07:00",
  floor: 1,
  weekendsOff: false,
  holidays: [],
};
const withWeekends: OffHoursPolicy = { ...partpalLike, weekendsOff: true, holidays: ["2026-12-25"] };
const JNB = "Africa/Johannesburg";

describe("the off-hours window", () => {
  it("wraps midnight: 18:00 is off, 06:59 is off, 07:00 is business hours", () => {
    expect(offHoursState(partpalLike, JNB, at("2026-11-23T16:00:00Z")).off).toBe(true);
    expect(offHoursState(partpalLike, JNB, at("2026-11-23T15:59:00Z")).off).toBe(false);
    expect(offHoursState(partpalLike, JNB, at("2026-11-24T04:59:00Z")).off).toBe(true);
    expect(offHoursState(partpalLike, JNB, at("2026-11-24T05:00:00Z"))).toMatchObject({
      off: false,
      why: "business-hours",
    });
  });

  it("weekends and holidays are off all day", () => {
    expect(offHoursState(withWeekends, JNB, at("2026-11-21T10:00:00Z"))).toMatchObject({ off: true, why: "weekend" });
    expect(offHoursState(partpalLike, JNB, at("2026-11-21T10:00:00Z")).off).toBe(false);
    expect(offHoursState(withWeekends, JNB, at("2026-12-25T10:00:00Z"))).toMatchObject({
      off: true,
      why: "holiday",
      localDate: "2026-12-25",
    });
  });

  it("holiday dates are read in the system's zone, not UTC", () => {
    // 23:30 UTC on the 24th is already the 25th in Johannesburg.
    expect(
      offHoursState(
        { ...partpalLike, start: "23:59", end: "00:00", holidays: ["2026-12-25"] },
        JNB,
        at("2026-12-24T23:30:00Z"),
      ).why,
    ).toBe("holiday");
  });

  it("a run a moment early acts for the state it was scheduled for", () => {
    // 06:59:59 local: scale-up must not read this as still off-hours.
    expect(stateForRun(partpalLike, JNB, at("2026-11-24T04:59:59Z")).off).toBe(false);
    // 17:59:59 local: scale-down must not read this as business hours.
    expect(stateForRun(partpalLike, JNB, at("2026-11-23T15:59:59Z")).off).toBe(true);
  });

  it("night and week lengths for the savings estimate", () => {
    expect(nightHours(partpalLike)).toBe(13);
    expect(weeklyOffHours(partpalLike)).toBe(91);
    expect(weeklyOffHours({ start: "20:00", end: "07:00", weekendsOff: true })).toBe(5 * 11 + 48);
  });

  it("finds when the current or coming off-hours period ends, across a weekend and a holiday", () => {
    // Monday 15:00 SAST, business hours: tonight's period ends Tuesday 07:00.
    expect(offHoursEnd(partpalLike, JNB, at("2026-11-23T13:00:00Z"))).toEqual(at("2026-11-24T05:00:00Z"));
    // Friday 20:00 with weekends off: Monday 07:00.
    expect(offHoursEnd(withWeekends, JNB, at("2026-11-27T18:00:00Z"))).toEqual(at("2026-11-30T05:00:00Z"));
    // Christmas Eve (Thursday) 20:00: the 25th is a holiday, so Saturday and Sunday follow, then Monday 07:00.
    expect(offHoursEnd(withWeekends, JNB, at("2026-12-24T18:00:00Z"))).toEqual(at("2026-12-28T05:00:00Z"));
  });
});

describe("keep-awake until=", () => {
  const opts = { timezone: JNB, now: at("2026-11-23T17:00:00Z") }; // Monday 19:00 SAST
  it("HH:MM is the next time the system's clock shows it", () => {
    expect(resolveUntil("22:00", opts)).toEqual(at("2026-11-23T20:00:00Z"));
    expect(resolveUntil("07:00", opts)).toEqual(at("2026-11-24T05:00:00Z"));
  });

  it("local date-times, ISO instants and durations", () => {
    expect(resolveUntil("2026-11-24T07:30", opts)).toEqual(at("2026-11-24T05:30:00Z"));
    expect(resolveUntil("2026-11-23T21:00:00Z", opts)).toEqual(at("2026-11-23T21:00:00Z"));
    expect(resolveUntil("2h30m", opts)).toEqual(at("2026-11-23T19:30:00Z"));
  });

  it("refuses the past, far futures, non-existent local times and gibberish", () => {
    expect(() => resolveUntil("2026-11-23T10:00", opts)).toThrow(/not in the future/);
    expect(() => resolveUntil("2062-01-01T00:00", opts)).toThrow(/more than 14 days/);
    expect(() =>
      resolveUntil("2026-03-08T02:30", { timezone: "America/New_York", now: at("2026-03-07T00:00:00Z") }),
    ).toThrow(/does not exist/);
    expect(() => resolveUntil("tonight", opts)).toThrow(ValidationError);
    expect(untilSyntaxProblem("tonight")).toMatch(/HH:MM/);
    expect(untilSyntaxProblem("22:00")).toBeUndefined();
  });
});

describe("savings estimate", () => {
  it("task-hours and Fargate cost per night and per month from the task size and the price table", () => {
    const estimate = estimateSavings({
      items: [{ service: "backend", savedTasks: 3, cpuUnits: 512, memoryMiB: 1024 }],
      window: { start: "18:00", end: "07:00", weekendsOff: true },
      price: resolvePrice("us-east-1"),
      launchType: "FARGATE",
    });
    // 3 tasks × 13 h; (0.5 vCPU × 0.04048 + 1 GB × 0.004445) = $0.024685 per task-hour.
    expect(estimate.perNight).toEqual({ taskHours: 39, usd: 0.96 });
    // 3 tasks × (5 × 13 h + 48 h) per week × 365.25/12/7 weeks.
    expect(estimate.perMonth.taskHours).toBeCloseTo(1474.0, 1);
    expect(estimate.perMonth.usd).toBeCloseTo(36.39, 2);
    expect(estimate.notes).toEqual([]);
  });

  it("says when a price is a fallback, a service has no size, or the launch type is EC2", () => {
    const fallback = resolvePrice("af-south-1");
    expect(fallback.source).toBe("fallback");
    expect(fallback.note).toMatch(/af-south-1/);
    const partial = estimateSavings({
      items: [
        { service: "a", savedTasks: 1, cpuUnits: 1024, memoryMiB: 2048 },
        { service: "b", savedTasks: 2 },
      ],
      window: { start: "18:00", end: "07:00" },
      price: fallback,
      launchType: "FARGATE",
    });
    expect(partial.perNight.taskHours).toBe(39);
    expect(partial.notes.join(" ")).toMatch(/leaves out b/);
    const ec2 = estimateSavings({
      items: [{ service: "a", savedTasks: 1, cpuUnits: 256, memoryMiB: 512 }],
      window: { start: "18:00", end: "07:00" },
      price: fallback,
      launchType: "EC2",
    });
    expect(ec2.perNight.usd).toBeUndefined();
    expect(ec2.notes.join(" ")).toMatch(/EC2/);
  });

  it("prices given for the run override the table", () => {
    expect(resolvePrice("af-south-1", { override: { vcpuHourUsd: 0.05, gbHourUsd: 0.005 } })).toMatchObject({
      source: "input",
      vcpuHourUsd: 0.05,
      gbHourUsd: 0.005,
    });
  });
});

describe("pool, batches and throttling retry", () => {
  it("chunk respects the batch size", () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(
      chunk(
        Array.from({ length: 25 }, (_, i) => i),
        10,
      ).map((b) => b.length),
    ).toEqual([10, 10, 5]);
  });

  it("mapPool keeps at most `limit` in flight, keeps order, isolates a throwing item", async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapPool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (n === 4) throw new Error("four");
      return n * 10;
    });
    expect(peak).toBe(3);
    expect(out[0]).toEqual({ status: "done", value: 10 });
    expect(out[3]).toMatchObject({ status: "error" });
    expect(out[6]).toEqual({ status: "done", value: 70 });
  });

  it("mapPool starts nothing new once aborted", async () => {
    const controller = new AbortController();
    const out = await mapPool(
      [1, 2, 3, 4],
      1,
      async (n) => {
        if (n === 2) controller.abort();
        return n;
      },
      { signal: controller.signal },
    );
    expect(out.map((o) => o.status)).toEqual(["done", "done", "not-started", "not-started"]);
  });

  it("a limiter keeps calls in flight at its limit, in arrival order, and frees the slot on failure", async () => {
    const limit = createLimiter(2);
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((n) =>
        limit(async () => {
          started.push(n);
          inFlight++;
          peak = Math.max(peak, inFlight);
          await new Promise((r) => setTimeout(r, 5));
          inFlight--;
          if (n === 2) throw new Error("two");
          return n;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled"]);
  });

  it("retry waits outside the limiter: a call backing off does not hold a slot", async () => {
    const limit = createLimiter(1);
    const throttle = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const order: string[] = [];
    let first = true;
    const a = retryThrottled(
      async () => {
        order.push("a");
        if (first) {
          first = false;
          throw throttle;
        }
        return "a";
      },
      { limit, baseDelayMs: 40, random: () => 1 },
    );
    await new Promise((r) => setTimeout(r, 5));
    const b = retryThrottled(
      async () => {
        order.push("b");
        return "b";
      },
      { limit },
    );
    expect(await Promise.all([a, b])).toEqual(["a", "b"]);
    // b ran while a was waiting out its backoff.
    expect(order).toEqual(["a", "b", "a"]);
  });

  it("retries throttling only, with backoff, and gives up after the attempts", async () => {
    const throttle = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    let calls = 0;
    const value = await retryThrottled(
      async () => {
        calls++;
        if (calls < 3) throw throttle;
        return "ok";
      },
      { baseDelayMs: 1 },
    );
    expect(value).toBe("ok");
    expect(calls).toBe(3);

    let denied = 0;
    const accessDenied = Object.assign(new Error("no"), { name: "AccessDeniedException" });
    await expect(
      retryThrottled(async () => {
        denied++;
        throw accessDenied;
      }),
    ).rejects.toBe(accessDenied);
    expect(denied).toBe(1);

    let always = 0;
    await expect(
      retryThrottled(
        async () => {
          always++;
          throw throttle;
        },
        { attempts: 3, baseDelayMs: 1 },
      ),
    ).rejects.toBe(throttle);
    expect(always).toBe(3);
  });

  it("recognises throttling by name, by the SDK's flag and by HTTP 429", () => {
    expect(isThrottlingError({ name: "ThrottlingException" })).toBe(true);
    expect(isThrottlingError({ name: "Whatever", $retryable: { throttling: true } })).toBe(true);
    expect(isThrottlingError({ name: "Whatever", $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isThrottlingError({ name: "InvalidParameterException", $metadata: { httpStatusCode: 400 } })).toBe(false);
    expect(isThrottlingError("ThrottlingException")).toBe(false);
  });

  it("an abort stops the backoff wait at once", async () => {
    const controller = new AbortController();
    const throttle = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const started = performance.now();
    setTimeout(() => controller.abort(), 10);
    await expect(
      retryThrottled(
        async () => {
          throw throttle;
        },
        { baseDelayMs: 10_000, random: () => 1, signal: controller.signal },
      ),
    ).rejects.toBe(throttle);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
