import { describe, expect, it } from "vitest";
import { decideBake } from "../../runbooks/health-probe/plan.js";
import {
  type DecideOptions,
  decideRollback,
  type WorkloadFacts,
  withRolledBackFrom,
} from "../../runbooks/rollback/plan.js";

const now = new Date("2026-11-21T10:00:00Z");
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);

const facts = (over: Partial<WorkloadFacts> = {}): WorkloadFacts => ({
  name: "ez-tracking/backend",
  controller: "rolling",
  current: "ez-backend:8",
  deployedAt: minutesAgo(5),
  rollingOut: false,
  knownGood: { revision: "ez-backend:7" },
  rolledBackFrom: [],
  ...over,
});

const decide = (over: Partial<WorkloadFacts> = {}, extra: Partial<DecideOptions> = {}) =>
  decideRollback({
    facts: facts(over),
    rules: { enabled: true, windowMinutes: 60, cooldownMinutes: 30 },
    trigger: { kind: "probe", at: now },
    now,
    ...extra,
  });

describe("decideRollback", () => {
  // Prepare: one row per guard, with the facts that trip it and nothing else.
  const cases: {
    name: string;
    over?: Partial<WorkloadFacts>;
    extra?: Partial<DecideOptions>;
    kind: string;
    guard?: string;
  }[] = [
    { name: "a failing new deployment rolls back to the known-good", kind: "rollback" },
    {
      name: "disabled in the catalogue",
      extra: { rules: { enabled: false, windowMinutes: 60, cooldownMinutes: 30 } },
      kind: "blocked",
      guard: "disabled",
    },
    {
      name: "CodeDeploy controller: hand over",
      over: { controller: "code-deploy" },
      kind: "manual",
      guard: "controller",
    },
    { name: "external controller: hand over", over: { controller: "external" }, kind: "manual", guard: "controller" },
    {
      name: "ECS circuit breaker rolling back: wait",
      over: { platformRollback: "ECS is rolling back" },
      kind: "wait",
      guard: "platform-rollback",
    },
    {
      name: "no known-good recorded",
      over: { knownGood: undefined } as unknown as Partial<WorkloadFacts>,
      kind: "blocked",
      guard: "no-known-good",
    },
    {
      name: "already on known-good: not a deploy problem",
      over: { current: "ez-backend:7" },
      kind: "blocked",
      guard: "already-known-good",
    },
    {
      name: "a rollback to the target rolling out: wait",
      over: { current: "ez-backend:7", rollingOut: true },
      kind: "wait",
      guard: "in-progress",
    },
    {
      name: "target was rolled back from",
      over: { rolledBackFrom: ["ez-backend:7"] },
      kind: "blocked",
      guard: "rolled-back-from",
    },
    {
      name: "deployment older than the window",
      over: { deployedAt: minutesAgo(61) },
      kind: "blocked",
      guard: "outside-window",
    },
    {
      name: "within the cooldown",
      over: { lastRollback: { at: minutesAgo(10), from: "ez-backend:6", to: "ez-backend:5" } },
      kind: "blocked",
      guard: "cooldown",
    },
    {
      name: "cooldown over",
      over: { lastRollback: { at: minutesAgo(31), from: "ez-backend:6", to: "ez-backend:5" } },
      kind: "rollback",
    },
    {
      name: "manual skips the window",
      over: { deployedAt: minutesAgo(600) },
      extra: { trigger: { kind: "manual", at: now } },
      kind: "rollback",
    },
    {
      name: "manual to= a rolled-back-from revision is still refused",
      over: { rolledBackFrom: ["ez-backend:5"] },
      extra: { to: "ez-backend:5", trigger: { kind: "manual", at: now } },
      kind: "blocked",
      guard: "rolled-back-from",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      // Act
      const decision = decide(c.over, c.extra);
      // Assess
      expect(decision.kind).toBe(c.kind);
      if (c.guard) expect(decision).toMatchObject({ guard: c.guard });
    });
  }

  it("rolls back from the current revision to the known-good", () => {
    expect(decide()).toMatchObject({ kind: "rollback", from: "ez-backend:8", to: "ez-backend:7" });
  });

  it("an explicit to= wins over the known-good", () => {
    expect(decide({}, { to: "ez-backend:6", trigger: { kind: "manual", at: now } })).toMatchObject({
      to: "ez-backend:6",
    });
  });

  it("escalates 'not a deploy problem' as critical when the known-good itself fails", () => {
    const decision = decide({ current: "ez-backend:7" });
    expect(decision).toMatchObject({ escalation: { severity: "critical" } });
    expect(decision.kind === "blocked" && decision.escalation?.reason).toMatch(/not a deploy problem/);
  });

  it("a duplicate of the trigger that caused the rollback is no rollback and no escalation", () => {
    const decision = decide(
      { current: "ez-backend:7", lastRollback: { at: now, from: "ez-backend:8", to: "ez-backend:7" } },
      { trigger: { kind: "probe", at: minutesAgo(1) } },
    );
    expect(decision).toMatchObject({ kind: "blocked", guard: "in-progress" });
    expect(decision).not.toHaveProperty("escalation");
  });

  it("says what a person should do for CodeDeploy", () => {
    const decision = decide({ controller: "code-deploy" });
    expect(decision.kind === "manual" && decision.instructions).toMatch(/stop-deployment/);
  });

  it("keeps the rolled-back-from list short and newest first", () => {
    expect(withRolledBackFrom(["a:1", "a:2"], "a:3", 2)).toEqual(["a:3", "a:1"]);
    expect(withRolledBackFrom(["a:3", "a:1"], "a:3")).toEqual(["a:3", "a:1"]);
  });
});

describe("decideBake", () => {
  const bake = { revision: "ez-backend:8", deployment: "ecs-svc/1", started: minutesAgo(11), state: "baking" as const };
  const base = {
    bake,
    current: "ez-backend:8",
    steady: true,
    probe: "healthy" as const,
    alarmsInAlarm: [],
    now,
    bakeMinutes: 10,
  };

  it.each([
    ["healthy for the whole bake: promote", {}, "promote"],
    ["bake time not over: wait", { bake: { ...bake, started: minutesAgo(3) } }, "wait"],
    ["an alarm in ALARM: fail", { alarmsInAlarm: ["ops-autopilot-p-ez-tracking-latency-critical"] }, "fail"],
    ["probe failing: fail", { probe: "failing" }, "fail"],
    ["probe recovering: fail", { probe: "recovering" }, "fail"],
    ["superseded by a newer deployment: fail", { current: "ez-backend:9" }, "fail"],
    ["not steady after the bake: wait", { steady: false }, "wait"],
    ["already promoted: nothing", { bake: { ...bake, state: "promoted" as const } }, "none"],
    ["no probe endpoint, alarms OK: promote", { probe: undefined }, "promote"],
  ] as const)("%s", (_name, over, kind) => {
    const facts = { ...base, ...over } as Parameters<typeof decideBake>[0];
    if ("probe" in over && over.probe === undefined) delete (facts as { probe?: unknown }).probe;
    expect(decideBake(facts).kind).toBe(kind);
  });
});
