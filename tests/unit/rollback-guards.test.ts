import { describe, expect, it } from "vitest";
import { decideRollback as decideKube, type RollbackInput } from "../../runbooks/kube-rollback/plan.js";
import { checkGuards, type GuardFacts, type GuardOptions } from "../../runbooks/rollback/guards.js";
import { decideRollback as decideEcs, type WorkloadFacts } from "../../runbooks/rollback/plan.js";

const now = new Date("2026-11-21T10:00:00Z");
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);

describe("the shared rollback guards (runbooks/rollback/guards.ts)", () => {
  // Prepare: a failing revision 8 whose target is 7; every row changes only what trips its rule.
  const facts = (over: Partial<GuardFacts> = {}): GuardFacts => ({
    name: "shop/api",
    current: "8",
    target: "7",
    trusted: "7",
    rolledBackFrom: [],
    deployedAt: minutesAgo(5),
    ...over,
  });
  const check = (over: Partial<GuardFacts> = {}, extra: Partial<GuardOptions> = {}) =>
    checkGuards({ facts: facts(over), rules: { cooldownMinutes: 30, windowMinutes: 60 }, now, ...extra });

  const rows: {
    name: string;
    over?: Partial<GuardFacts>;
    extra?: Partial<GuardOptions>;
    guard?: string;
    send?: boolean;
  }[] = [
    { name: "nothing trips: pass, and send", send: true },
    { name: "dry run: pass, but send nothing", extra: { dryRun: true }, send: false },
    { name: "current is the trusted revision", over: { current: "7" }, guard: "already-known-good" },
    {
      name: "no trusted revision recorded: that rule cannot trip",
      over: { current: "7", trusted: undefined, target: "6" },
      send: true,
    },
    { name: "target was rolled back from", over: { rolledBackFrom: ["9", "7"] }, guard: "rolled-back-from" },
    { name: "deployed beyond the window", over: { deployedAt: minutesAgo(61) }, guard: "outside-window" },
    { name: "deployed exactly at the window's edge", over: { deployedAt: minutesAgo(60) }, send: true },
    {
      name: "no window (a failed rollout is the rollout's)",
      over: { deployedAt: minutesAgo(600) },
      extra: { rules: { cooldownMinutes: 30 } },
      send: true,
    },
    {
      name: "within the cooldown",
      over: { lastRollback: { at: minutesAgo(29), from: "6", to: "5" } },
      guard: "cooldown",
    },
    { name: "cooldown over", over: { lastRollback: { at: minutesAgo(30), from: "6", to: "5" } }, send: true },
    {
      name: "cooldown 0: never in it",
      over: { lastRollback: { at: now } },
      extra: { rules: { cooldownMinutes: 0, windowMinutes: 60 } },
      send: true,
    },
    { name: "manual skips the window", over: { deployedAt: minutesAgo(600) }, extra: { manual: true }, send: true },
    {
      name: "manual skips the cooldown",
      over: { lastRollback: { at: minutesAgo(1) } },
      extra: { manual: true },
      send: true,
    },
    {
      name: "manual does not skip rolled-back-from",
      over: { rolledBackFrom: ["7"] },
      extra: { manual: true },
      guard: "rolled-back-from",
    },
    {
      name: "known-good wins over rolled-back-from (rule order)",
      over: { current: "7", rolledBackFrom: ["7"] },
      guard: "already-known-good",
    },
    {
      name: "rolled-back-from wins over the window",
      over: { rolledBackFrom: ["7"], deployedAt: minutesAgo(600) },
      guard: "rolled-back-from",
    },
    {
      name: "the window wins over the cooldown",
      over: { deployedAt: minutesAgo(61), lastRollback: { at: minutesAgo(1) } },
      guard: "outside-window",
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      // Act
      const verdict = check(row.over, row.extra);
      // Assess
      if (row.guard) expect(verdict).toMatchObject({ pass: false, guard: row.guard });
      else expect(verdict).toEqual({ pass: true, send: row.send });
    });
  }

  it("escalates as critical every stop but rolled-back-from (never a target again is not a page)", () => {
    expect(check({ current: "7" })).toMatchObject({
      escalation: { severity: "critical", reason: expect.stringMatching(/not a deploy problem/) },
    });
    expect(check({ deployedAt: minutesAgo(61) })).toMatchObject({ escalation: { severity: "critical" } });
    expect(check({ lastRollback: { at: minutesAgo(1) } })).toMatchObject({ escalation: { severity: "critical" } });
    expect(check({ rolledBackFrom: ["7"] })).not.toHaveProperty("escalation");
  });

  it("names revisions the caller's way in its reasons", () => {
    const label = (r: string) => `revision ${r}`;
    const cooldown = check({ lastRollback: { at: minutesAgo(10), from: "9", to: "8" } }, { label });
    expect(cooldown).toMatchObject({
      reason:
        "rolled back 10 min ago, within the 30-min cooldown (revision 9 → revision 8 at 2026-11-21T09:50:00.000Z): not again",
    });
    expect(check({ rolledBackFrom: ["7"] }, { label, targetNoun: "the earlier" })).toMatchObject({
      reason: "the earlier revision 7 was itself rolled back from: never a rollback target again",
    });
  });
});

describe("both rollbacks apply the same guards; only the target differs", () => {
  // The same history: 8 fails, 7 is the known-good (and the one before it), rolled back 10 min ago.
  const ecs = (over: Partial<WorkloadFacts>) =>
    decideEcs({
      facts: {
        name: "c/api",
        controller: "rolling",
        current: "api:8",
        deployedAt: minutesAgo(5),
        rollingOut: false,
        knownGood: { revision: "api:7" },
        rolledBackFrom: [],
        ...over,
      },
      rules: { enabled: true, windowMinutes: 60, cooldownMinutes: 30 },
      trigger: { kind: "probe", at: now },
      now,
    });
  const kube = (over: Partial<RollbackInput>) =>
    decideKube({
      failure: "health endpoint failed 3 times",
      trigger: "probe",
      healthy: false,
      current: { hash: "h8", revision: 8 },
      previous: { hash: "h7", revision: 7 },
      knownGood: "h7",
      rolledBackFrom: [],
      deployedAt: minutesAgo(5),
      cooldownMinutes: 30,
      windowMinutes: 60,
      now,
      ...over,
    });

  it.each([
    [
      "already-known-good",
      { current: "api:7" },
      { current: { hash: "h7", revision: 9 }, previous: { hash: "h6", revision: 6 } },
    ],
    ["rolled-back-from", { rolledBackFrom: ["api:7"] }, { rolledBackFrom: ["h7"] }],
    ["outside-window", { deployedAt: minutesAgo(90) }, { deployedAt: minutesAgo(90) }],
    [
      "cooldown",
      { lastRollback: { at: minutesAgo(10), from: "api:9", to: "api:8" } },
      { lastRollbackAt: minutesAgo(10) },
    ],
  ] as const)("%s stops both", (guard, ecsOver, kubeOver) => {
    expect(ecs(ecsOver as Partial<WorkloadFacts>)).toMatchObject({ kind: "blocked", guard });
    expect(kube(kubeOver as Partial<RollbackInput>)).toMatchObject({ kind: "escalate", guard });
  });

  it("the target: ECS goes to the last known-good, Kubernetes to the previous revision", () => {
    expect(ecs({ knownGood: { revision: "api:5" } })).toMatchObject({ kind: "rollback", to: "api:5", send: true });
    expect(kube({ knownGood: "h5" })).toMatchObject({ kind: "rollback", to: { hash: "h7" }, send: true });
  });

  it("dry run: both decide the rollback and send nothing", () => {
    const ecsDry = decideEcs({
      facts: {
        name: "c/api",
        controller: "rolling",
        current: "api:8",
        rollingOut: false,
        knownGood: { revision: "api:7" },
        rolledBackFrom: [],
      },
      rules: { enabled: true, windowMinutes: 60, cooldownMinutes: 30 },
      trigger: { kind: "probe", at: now },
      now,
      dryRun: true,
    });
    expect(ecsDry).toMatchObject({ kind: "rollback", send: false });
    expect(kube({ dryRun: true })).toMatchObject({ kind: "rollback", send: false });
  });

  it("Kubernetes: the window judges only the probe's trigger; a failed rollout is the rollout's however old", () => {
    expect(kube({ deployedAt: minutesAgo(600) })).toMatchObject({ kind: "escalate", guard: "outside-window" });
    expect(kube({ deployedAt: minutesAgo(600), trigger: "deadline" })).toMatchObject({ kind: "rollback" });
  });

  it("Kubernetes: failures counted on another template than runs now are no reason to roll back", () => {
    expect(kube({ failedHash: "h6" })).toMatchObject({ kind: "none", reason: expect.stringMatching(/counted afresh/) });
    expect(kube({ failedHash: "h8" })).toMatchObject({ kind: "rollback" });
  });
});
