import { describe, expect, it } from "vitest";
import { nextRuns, parseScheduleExpression } from "../../lib/cron.js";
import { keepAwakeRunbook } from "../../runbooks/keep-awake/index.js";
import { scaleDownRunbook } from "../../runbooks/scale-down/index.js";
import { scaleUpRunbook } from "../../runbooks/scale-up/index.js";
import { scalingPermissions, scalingPlanNote } from "../../runbooks/scaling/scope.js";
import { offHoursCrons } from "../../runbooks/scaling/window.js";
import { offHoursSchedules, scalingSchedules } from "../../schedules/scaling.js";
import { planRuns } from "../../schedules/upcoming.js";
import { builtinSystems, parseFleet } from "../../systems/index.js";
import { type SystemInput, systemSchema } from "../../systems/schema.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";

const registry = [scaleDownRunbook, scaleUpRunbook, keepAwakeRunbook];
const fleet = parseFleet(
  { systems: builtinSystems, schedules: scalingSchedules },
  { source: "test", runbooks: registry.map((r) => r.name) },
);
const system = (id: string) => {
  const found = fleet.systems.find((s) => s.id === id);
  if (!found) throw new Error(id);
  return found;
};

function runsOf(expression: string, timezone: string, after: string, until: string): string[] {
  return nextRuns(parseScheduleExpression(expression), {
    timezone,
    after: new Date(after),
    until: new Date(until),
  }).map((d) => d.toISOString().slice(0, 16));
}

describe("scalingSchedules", () => {
  it("validates as a fleet catalogue with the three runbooks", () => {
    expect(fleet.schedules.length).toBe(scalingSchedules.length);
    expect(scalingSchedules.length).toBeGreaterThan(0);
  });

  it("has exactly a scale-down and a scale-up for each system with off-hours enabled, none for the others", () => {
    const enabled = builtinSystems.filter((s) => s.offHours.enabled && s.deploy !== false).map((s) => s.id);
    expect(enabled.sort()).toEqual(["ode", "partpal-ims"]);
    for (const id of enabled) {
      expect(scalingSchedules.filter((s) => s.system === id).map((s) => s.runbook)).toEqual(["scale-down", "scale-up"]);
    }
    for (const id of ["flash-sale", "ims-2", "ez-tracking", "demo"]) {
      expect(
        scalingSchedules.some((s) => s.system === id),
        id,
      ).toBe(false);
    }
  });

  it("derives the crons from offHours.start/end in the system's zone", () => {
    const partpal = scalingSchedules.filter((s) => s.system === "partpal-ims");
    expect(partpal.map((s) => [s.expression, s.timezone])).toEqual([
      ["cron(0 18 * * ? *)", "Africa/Johannesburg"],
      ["cron(0 7 * * ? *)", "Africa/Johannesburg"],
    ]);
    // ODE has weekends off: no scale-up on Saturday and Sunday.
    expect(scalingSchedules.find((s) => s.system === "ode" && s.runbook === "scale-up")?.expression).toBe(
      "cron(0 7 ? * MON-FRI *)",
    );
    expect(offHoursCrons({ start: "18:30", end: "06:45" })).toEqual({
      scaleDown: "cron(30 18 * * ? *)",
      scaleUp: "cron(45 6 * * ? *)",
    });
    expect(() => offHoursCrons({ start: "18:00", end: "18:00" })).toThrow(/empty/);
  });
});

describe("acceptance: ops plan --system partpal-ims --days 3", () => {
  const runs = planRuns(fleet, registry, { now: new Date("2026-11-21T10:00:00Z"), days: 3, system: "partpal-ims" });

  it("scale-down at 18:00 and scale-up at 07:00 SAST, i.e. 16:00 and 05:00 UTC", () => {
    const down = runs.filter((r) => r.runbook === "scale-down");
    const up = runs.filter((r) => r.runbook === "scale-up");
    expect(down.map((r) => r.utc)).toEqual([
      "2026-11-21T16:00:00.000Z",
      "2026-11-22T16:00:00.000Z",
      "2026-11-23T16:00:00.000Z",
    ]);
    expect(up.map((r) => r.utc)).toEqual([
      "2026-11-22T05:00:00.000Z",
      "2026-11-23T05:00:00.000Z",
      "2026-11-24T05:00:00.000Z",
    ]);
    expect(down[0]?.local).toBe("2026-11-21 18:00 +02:00");
    expect(up[0]?.local).toBe("2026-11-22 07:00 +02:00");
  });

  it("every run acts on the EKS deployments: no run carries a 'skipped' note", () => {
    expect(runs.length).toBe(6);
    for (const run of runs) expect(run.note).toBeUndefined();
  });

  it("ODE's scaling runs carry no note either (its worker deployment is scaled)", () => {
    expect(scalingPlanNote(system("ode"), "scale-down")).toBeUndefined();
    expect(scalingPlanNote(system("ode"), "scale-up")).toBeUndefined();
  });
});

describe("schedule computation across time zones", () => {
  it("America/New_York across the November DST change: same local times, UTC shifts by an hour", () => {
    const [down, up] = offHoursSchedules(builtinSystems.find((s) => s.id === "ode") as SystemInput);
    if (!down || !up) throw new Error("ode schedules");
    // 2026-11-01 02:00 EDT → 01:00 EST.
    expect(runsOf(down.expression, "America/New_York", "2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z")).toEqual([
      "2026-10-31T00:00", // Fri 20:00 EDT
      "2026-11-01T00:00", // Sat 20:00 EDT
      "2026-11-02T01:00", // Sun 20:00 EST
    ]);
    expect(runsOf(up.expression, "America/New_York", "2026-10-29T12:00:00Z", "2026-11-04T00:00:00Z")).toEqual([
      "2026-10-30T11:00", // Fri 07:00 EDT
      "2026-11-02T12:00", // Mon 07:00 EST (no Saturday, no Sunday)
      "2026-11-03T12:00",
    ]);
  });

  it("America/New_York across the March change: the runs move the other way, none is skipped or doubled", () => {
    const ode = builtinSystems.find((s) => s.id === "ode") as SystemInput;
    const [down] = offHoursSchedules(ode);
    if (!down) throw new Error("ode");
    expect(runsOf(down.expression, "America/New_York", "2026-03-07T02:00:00Z", "2026-03-09T23:00:00Z")).toEqual([
      "2026-03-08T01:00", // Sat 20:00 EST
      "2026-03-09T00:00", // Sun 20:00 EDT
    ]);
  });

  it("Africa/Johannesburg has no DST: the same UTC times all year", () => {
    const partpal = builtinSystems.find((s) => s.id === "partpal-ims") as SystemInput;
    const [down, up] = offHoursSchedules(partpal);
    if (!down || !up) throw new Error("partpal schedules");
    const downs = runsOf(down.expression, "Africa/Johannesburg", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    const ups = runsOf(up.expression, "Africa/Johannesburg", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    expect(downs.length).toBe(365);
    expect(ups.length).toBe(365);
    expect(new Set(downs.map((r) => r.slice(11)))).toEqual(new Set(["16:00"]));
    expect(new Set(ups.map((r) => r.slice(11)))).toEqual(new Set(["05:00"]));
  });
});

describe("Flash Sale keeps its floor of 10", () => {
  it("is never planned to scale down below 10: either no schedule, or a floor of at least 10", () => {
    const flash = system("flash-sale");
    const planned = planRuns(fleet, registry, {
      now: new Date("2026-11-21T00:00:00Z"),
      days: 30,
      system: "flash-sale",
    });
    if (flash.offHours.enabled) {
      expect(flash.offHours.floor).toBeGreaterThanOrEqual(10);
    } else {
      expect(planned).toEqual([]);
    }
    // Should the catalogue ever enable it with a lower floor, this fails before anything is deployed.
    expect(flash.offHours.enabled === false || flash.offHours.floor >= 10).toBe(true);
  });

  it("and a disabled policy grants scale-down no permission at all", () => {
    expect(scaleDownRunbook.permissions(system("flash-sale"))).toEqual([]);
    expect(scaleDownRunbook.planNote?.(system("flash-sale"), {})).toMatch(/^skipped: off-hours disabled/);
  });
});

describe("least-privilege IAM", () => {
  const ecsSystem = systemSchema.parse({
    ...(builtinSystems.find((s) => s.id === "ez-tracking") as SystemInput),
    account: { region: "us-east-1", accountId: ACCOUNT_ID },
    offHours: { enabled: true, start: "19:00", end: "07:00", floor: 1, targets: ["backend"] },
  });

  it("scale-down: ECS writes only on the targeted services' ARNs", () => {
    const permissions = scalingPermissions(ecsSystem, "scale-down");
    const ecs = permissions.find((p) => p.actions.includes("ecs:UpdateService"));
    expect(ecs?.resources).toEqual([`arn:aws:ecs:us-east-1:${ACCOUNT_ID}:service/ez-tracking/backend`]);
    expect(ecs?.actions.sort()).toEqual(
      ["ecs:DescribeServices", "ecs:ListTagsForResource", "ecs:TagResource", "ecs:UpdateService"].sort(),
    );
    expect(
      permissions.find((p) => p.actions.includes("application-autoscaling:RegisterScalableTarget"))?.resources,
    ).toEqual([`arn:aws:application-autoscaling:us-east-1:${ACCOUNT_ID}:scalable-target/*`]);
    expect(permissions.flatMap((p) => p.actions).some((a) => a.endsWith("*"))).toBe(false);
  });

  it("scale-up covers every service of the system (a service untargeted while down must come back) and cannot tag", () => {
    const permissions = scalingPermissions(ecsSystem, "scale-up");
    const ecs = permissions.find((p) => p.actions.includes("ecs:UpdateService"));
    expect(ecs?.resources).toEqual([
      `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:service/ez-tracking/frontend`,
      `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:service/ez-tracking/backend`,
    ]);
    expect(ecs?.actions).toContain("ecs:UntagResource");
    expect(ecs?.actions).not.toContain("ecs:TagResource");
  });

  it("EKS systems get eks:DescribeCluster on their own cluster only (Kubernetes access is the access entry's)", () => {
    expect(scaleDownRunbook.permissions(system("partpal-ims"))).toEqual([
      { actions: ["eks:DescribeCluster"], resources: ["arn:aws:eks:af-south-1:*:cluster/partpal-ims"] },
    ]);
    expect(keepAwakeRunbook.permissions(system("ode"))).toEqual([
      { actions: ["eks:DescribeCluster"], resources: ["arn:aws:eks:us-east-1:*:cluster/ode-production-cluster"] },
    ]);
  });
});
