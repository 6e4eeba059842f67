import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UnknownNameError, ValidationError } from "../../lib/errors.js";
import { healthProbeRunbook } from "../../runbooks/health-probe/index.js";
import { rollbackRunbook } from "../../runbooks/rollback/index.js";
import {
  BAKE_TAG,
  KNOWN_GOOD_TAG,
  KNOWN_GOOD_WHY_TAG,
  LAST_ROLLBACK_TAG,
  ROLLED_BACK_FROM_TAG,
} from "../../runbooks/rollback/tags.js";
import { parseRunbookInput } from "../../runbooks/runner.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { SimClock, SimulatedEcs, taskDefinitionArn } from "../helpers/simulated-ecs.js";

// biome-ignore lint/suspicious/noExplicitAny: fixtures are real payloads read as loose JSON
type Loose = Record<string, any>;
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", name), "utf8")) as Loose;

const ez = findSystem(builtinFleet(), "ez-tracking");
const T0 = Date.parse("2026-11-21T10:00:00Z");
const WRITES = ["UpdateService", "TagResource"];

let clock: SimClock;
let ecs: SimulatedEcs;
const cloudwatch = mockClient(CloudWatchClient);

beforeEach(() => {
  clock = new SimClock(T0);
  ecs = new SimulatedEcs({ clock, cluster: "ez-tracking", deployMs: 180_000, latencyMs: 50 });
  cloudwatch.reset();
  cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], $metadata: {} });
});
afterEach(() => ecs.mock.restore());

function context(options: { dryRun?: boolean; system?: System } = {}) {
  return {
    ...testContext({ system: options.system ?? ez, now: clock.now, dryRun: options.dryRun ?? false }),
    sleep: clock.sleep,
  };
}

/** backend was deployed ez-backend:8 five minutes ago; its known-good is ez-backend:7. */
function badDeployment(tags: Record<string, string> = {}) {
  return ecs.addService({
    name: "backend",
    revision: "ez-backend:8",
    tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7"), ...tags },
  });
}

/** The trigger the alarm function sends, built from a real "CloudWatch Alarm State Change" payload. */
function alarmTrigger() {
  const event = fixture("cloudwatch-alarm-state-change-ez-latency.json");
  return {
    kind: "alarm",
    alarmName: event.detail.alarmName,
    state: event.detail.state.value,
    reason: event.detail.state.reason,
    at: new Date(event.time).toISOString(),
  };
}

const run = (input: Record<string, unknown>, options: { dryRun?: boolean; system?: System } = {}) =>
  rollbackRunbook.run(context(options), parseRunbookInput(rollbackRunbook, input));

describe("rollback", () => {
  it("an alarm-shaped trigger rolls the service back to its known-good and follows it until steady", async () => {
    // Prepare
    badDeployment();
    // Act
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    // Assess
    expect(ecs.running("backend")).toBe("ez-backend:7");
    expect(ecs.count("UpdateService")).toBe(1);
    const update = ecs.calls.find((c) => c.command === "UpdateService")?.input;
    expect(update).toMatchObject({
      cluster: "ez-tracking",
      service: "backend",
      taskDefinition: taskDefinitionArn("ez-backend:7"),
    });
    expect(report.status).toBe("succeeded");
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["rollback", "done"],
      ["follow", "done"],
    ]);
    const timeline = report.details?.timeline as Record<string, number | string>;
    expect(timeline.triggerAt).toBe("2026-11-21T10:00:00.000Z");
    expect(Number(timeline.triggerToIssuedMs)).toBeLessThan(1000);
    expect(Number(timeline.issuedToHealthyMs)).toBeGreaterThanOrEqual(180_000);
    expect(report.summary).toMatch(/alarm → rollback ez-backend:8 → ez-backend:7.*limit 5 min: met/);
    expect((report.details?.events as { message: string }[] | undefined)?.at(-1)?.message).toMatch(/steady state/);
    const tags = ecs.services.get("backend")?.tags;
    expect(tags?.get(LAST_ROLLBACK_TAG)).toMatch(/^v1 at=\S+ from=ez-backend:8 to=ez-backend:7 trigger=alarm$/);
    expect(tags?.get(ROLLED_BACK_FROM_TAG)).toBe("ez-backend:8");
  });

  it("a duplicate event causes one rollback: the second waits for the first, a late one changes nothing", async () => {
    badDeployment();
    const trigger = { kind: "deployment-failed", deploymentId: "ecs-svc/1000", at: new Date(T0).toISOString() };
    await run({ service: "backend", trigger, follow: false });
    const second = await run({ service: "backend", trigger, follow: false });
    clock.advance(10 * 60_000);
    const late = await run({ service: "backend", trigger, follow: false });
    expect(ecs.count("UpdateService")).toBe(1);
    expect(second.details?.decision).toEqual({ kind: "wait", guard: "in-progress" });
    expect(late.details?.decision).toEqual({ kind: "blocked", guard: "in-progress" });
    expect(late.details?.escalation).toBeUndefined();
  });

  it("duplicates delivered at once (the failed deployment, the probe and the alarm together) start one deployment", async () => {
    badDeployment();
    const triggers = [
      { kind: "deployment-failed", deploymentId: "ecs-svc/1000" },
      { kind: "probe", failures: 3 },
      alarmTrigger(),
    ];
    const reports = await Promise.all(triggers.map((trigger) => run({ service: "backend", trigger, follow: false })));
    // Each read the service before any update: all decide to roll back, and ECS starts one deployment, as an
    // UpdateService that changes nothing starts none.
    expect(reports.every((r) => r.status === "succeeded")).toBe(true);
    expect(ecs.deploymentsStarted).toBe(1);
    expect(ecs.running("backend")).toBe("ez-backend:7");
    expect(ecs.services.get("backend")?.tags.get(ROLLED_BACK_FROM_TAG)).toBe("ez-backend:8");
  });

  it("dry run decides and reports, and sends no write", async () => {
    badDeployment();
    const report = await run({ service: "backend", trigger: alarmTrigger() }, { dryRun: true });
    expect(report.actions[0]).toMatchObject({
      action: "rollback",
      status: "would-do",
      before: "ez-backend:8",
      after: "ez-backend:7",
    });
    expect(ecs.calls.filter((c) => WRITES.includes(c.command))).toEqual([]);
    expect(ecs.running("backend")).toBe("ez-backend:8");
  });

  it("already on the known-good: no rollback, escalated critical 'not a deploy problem'", async () => {
    ecs.addService({
      name: "backend",
      revision: "ez-backend:7",
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    expect(ecs.count("UpdateService")).toBe(0);
    expect(report.details?.decision).toEqual({ kind: "blocked", guard: "already-known-good" });
    expect(report.details?.escalation).toMatchObject({
      severity: "critical",
      reason: expect.stringMatching(/not a deploy problem/),
    });
    expect(report.actions[0]?.reason).toMatch(/^already-known-good: /);
  });

  it("never back to a revision that was itself rolled back from", async () => {
    badDeployment({ [ROLLED_BACK_FROM_TAG]: "ez-backend:7" });
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    expect(ecs.count("UpdateService")).toBe(0);
    expect(report.details?.decision).toEqual({ kind: "blocked", guard: "rolled-back-from" });
  });

  it("cooldown: a second automatic rollback within 30 min is refused and escalated", async () => {
    badDeployment({
      [LAST_ROLLBACK_TAG]: `v1 at=2026-11-21T09:45:00Z from=ez-backend:6 to=ez-backend:5 trigger=probe`,
    });
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    expect(ecs.count("UpdateService")).toBe(0);
    expect(report.details?.decision).toEqual({ kind: "blocked", guard: "cooldown" });
    expect(report.details?.escalation).toMatchObject({ severity: "critical" });
  });

  it("outside the rollback window: not blamed on a deployment an hour old", async () => {
    ecs.addService({
      name: "backend",
      revision: "ez-backend:8",
      deployedAgoMs: 61 * 60_000,
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    expect(ecs.count("UpdateService")).toBe(0);
    expect(report.details?.decision).toEqual({ kind: "blocked", guard: "outside-window" });
  });

  it("ECS's circuit breaker rolling back: wait, don't fight it", async () => {
    ecs.addService({
      name: "backend",
      revision: "ez-backend:7",
      circuitBreakerRollback: true,
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    ecs.deploy("backend", "ez-backend:8");
    ecs.failPrimary("backend");
    const event = fixture("ecs-deployment-failed.json");
    const report = await run({
      service: "backend",
      trigger: { kind: "deployment-failed", deploymentId: event.detail.deploymentId, reason: event.detail.reason },
    });
    expect(ecs.count("UpdateService")).toBe(0);
    expect(report.details?.decision).toEqual({ kind: "wait", guard: "platform-rollback" });
  });

  it.each([
    ["CODE_DEPLOY", /stop-deployment/],
    ["EXTERNAL", /task set/],
  ] as const)("a %s controller: report what a person should do, change nothing", async (controller, instructions) => {
    ecs.addService({
      name: "backend",
      revision: "ez-backend:8",
      controller,
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    expect(ecs.calls.filter((c) => WRITES.includes(c.command))).toEqual([]);
    expect(report.details?.decision).toEqual({ kind: "manual", guard: "controller" });
    expect(report.details?.instructions).toMatch(instructions);
    expect(report.details?.escalation).toMatchObject({ severity: "critical" });
  });

  it("by hand: to=<revision> of the same family, even without a known-good", async () => {
    ecs.addService({ name: "backend", revision: "ez-backend:8", deployedAgoMs: 5 * 3_600_000 });
    const report = await run({ service: "backend", to: "6" });
    expect(ecs.running("backend")).toBe("ez-backend:6");
    expect(report.status).toBe("succeeded");
    expect(report.details?.trigger).toEqual({ kind: "manual" });
  });

  it("a rollback that never gets steady is reported failed and escalated", async () => {
    ecs.mock.restore();
    ecs = new SimulatedEcs({ clock, cluster: "ez-tracking", deployMs: 20 * 60_000 });
    badDeployment();
    const report = await run({ service: "backend", trigger: alarmTrigger() });
    expect(report.status).toBe("partial");
    expect(report.actions[1]).toMatchObject({
      action: "follow",
      status: "failed",
      reason: expect.stringMatching(/not healthy within 10 min/),
    });
    expect(report.details?.escalation).toMatchObject({ severity: "critical" });
  });

  it("sends only the ECS actions it declares, on the system's own service ARNs", async () => {
    badDeployment();
    await run({ service: "backend", trigger: alarmTrigger() });
    const declared = rollbackRunbook.permissions(ez);
    const actions = new Set(declared.flatMap((p) => p.actions));
    for (const call of ecs.calls) expect(actions, call.command).toContain(`ecs:${call.command}`);
    expect(declared.flatMap((p) => p.resources)).toEqual([
      "arn:aws:ecs:us-east-1:*:service/ez-tracking/frontend",
      "arn:aws:ecs:us-east-1:*:service/ez-tracking/backend",
    ]);
    expect(actions.has("iam:PassRole")).toBe(false);
    expect(healthProbeRunbook.permissions(ez).flatMap((p) => p.actions)).toContain("cloudwatch:DescribeAlarms");
  });

  it("bad input is refused with what is allowed, and nothing is called", async () => {
    badDeployment();
    expect(() => parseRunbookInput(rollbackRunbook, { service: "backend", to: "latest" })).toThrow(
      /to: must be a revision number \(7\), family:revision/,
    );
    expect(() => parseRunbookInput(rollbackRunbook, { trigger: { kind: "pager" } })).toThrow(
      /trigger.kind must be one of/,
    );
    await expect(run({ service: "worker" })).rejects.toThrow(UnknownNameError);
    await expect(run({})).rejects.toThrow(ValidationError);
    expect(ecs.calls).toEqual([]);
  });
});

describe("known-good tracking (health-probe bake)", () => {
  const probe = (input: Record<string, unknown>, dryRun = false) =>
    healthProbeRunbook.run(context({ dryRun }), parseRunbookInput(healthProbeRunbook, input));

  /** ez-backend:8 deployed through ECS and now steady: the SERVICE_DEPLOYMENT_COMPLETED moment. */
  function completedDeployment() {
    ecs.addService({ name: "frontend", revision: "ez-frontend:3" });
    ecs.addService({
      name: "backend",
      revision: "ez-backend:7",
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    const deployment = ecs.deploy("backend", "ez-backend:8");
    clock.advance(180_000);
    ecs.steady("backend");
    return { service: "backend", deploymentId: deployment.id, at: clock.now().toISOString() };
  }

  it("promotes after the bake time when alarms stayed OK", async () => {
    const completed = completedDeployment();
    const started = await probe({ deploymentCompleted: completed });
    expect(started.actions).toEqual([expect.objectContaining({ action: "bake-start", status: "done" })]);
    clock.advance(5 * 60_000);
    const halfway = await probe({});
    expect(halfway.actions.find((a) => a.action === "bake-check")?.reason).toMatch(/baking: \d+ s of 10 min left/);
    expect(ecs.services.get("backend")?.tags.get(KNOWN_GOOD_TAG)).toBe(taskDefinitionArn("ez-backend:7"));
    clock.advance(5 * 60_000);
    const done = await probe({});
    const tags = ecs.services.get("backend")?.tags;
    expect(done.actions.find((a) => a.action === "promote-known-good")).toMatchObject({
      status: "done",
      after: taskDefinitionArn("ez-backend:8"),
    });
    expect(tags?.get(KNOWN_GOOD_TAG)).toBe(taskDefinitionArn("ez-backend:8"));
    expect(tags?.get(KNOWN_GOOD_WHY_TAG)).toMatch(
      /^baked 10 min after deployment ecs-svc\/\d+ - alarms OK - no probe-able endpoint$/,
    );
    expect(tags?.get(BAKE_TAG)).toMatch(/state=promoted/);
  });

  it("an alarm in ALARM during the bake fails it: never promoted", async () => {
    await probe({ deploymentCompleted: completedDeployment() });
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: "ops-autopilot-production-ez-tracking-error-rate-critical", StateValue: "ALARM" }],
      $metadata: {},
    });
    clock.advance(60_000);
    const failed = await probe({});
    expect(failed.actions.find((a) => a.action === "bake-failed")?.reason).toMatch(/error-rate-critical/);
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], $metadata: {} });
    clock.advance(15 * 60_000);
    await probe({});
    const tags = ecs.services.get("backend")?.tags;
    expect(tags?.get(KNOWN_GOOD_TAG)).toBe(taskDefinitionArn("ez-backend:7"));
    expect(tags?.get(BAKE_TAG)).toMatch(/state=failed/);
  });

  it("another system's alarm does not fail the bake", async () => {
    await probe({ deploymentCompleted: completedDeployment() });
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: "ops-autopilot-production-flash-sale-api-latency", StateValue: "ALARM" }],
      $metadata: {},
    });
    clock.advance(11 * 60_000);
    await probe({});
    expect(ecs.services.get("backend")?.tags.get(KNOWN_GOOD_TAG)).toBe(taskDefinitionArn("ez-backend:8"));
  });

  it("a duplicate or late COMPLETED event starts no second bake", async () => {
    const completed = completedDeployment();
    await probe({ deploymentCompleted: completed });
    const duplicate = await probe({ deploymentCompleted: completed });
    expect(duplicate.actions[0]).toMatchObject({ status: "skipped", reason: expect.stringMatching(/duplicate event/) });
    const stale = await probe({ deploymentCompleted: { ...completed, deploymentId: "ecs-svc/1" } });
    expect(stale.actions[0]).toMatchObject({
      status: "skipped",
      reason: expect.stringMatching(/no longer the PRIMARY/),
    });
    expect(ecs.count("TagResource")).toBe(1);
  });

  it("dry run: the bake is reported would-do and no tag is written", async () => {
    const report = await probe({ deploymentCompleted: completedDeployment() }, true);
    expect(report.actions[0]).toMatchObject({ action: "bake-start", status: "would-do" });
    expect(ecs.count("TagResource")).toBe(0);
  });
});
