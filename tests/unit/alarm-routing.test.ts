import { describe, expect, it } from "vitest";
import { type AlarmState, decideAlarmStep, reminderDue } from "../../alarms/state.js";
import { reportMessage } from "../../lib/notify/blocks.js";
import { reportSeverity, routeFor } from "../../lib/notify/router.js";
import type { Report } from "../../runbooks/types.js";
import { builtinFleet, findSystem } from "../../systems/index.js";

const report = (over: Partial<Report> = {}): Report => ({
  runbook: "backup",
  system: "ims-2",
  dryRun: false,
  status: "succeeded",
  startedAt: "2026-11-21T03:00:00.000Z",
  finishedAt: "2026-11-21T03:01:00.000Z",
  actions: [],
  metrics: {},
  summary: "ok",
  ...over,
});

describe("reportSeverity: the rules in order", () => {
  it.each([
    ["succeeded", report(), "info"],
    ["skipped", report({ status: "skipped" }), "info"],
    ["failed → error", report({ status: "failed" }), "error"],
    ["partial → error", report({ status: "partial" }), "error"],
    [
      "a drill that missed its RTO → error, even if the run succeeded",
      report({
        runbook: "restore-drill",
        details: { drills: [{ rto: { verdict: "missed" }, rpo: { verdict: "met" } }] },
      }),
      "error",
    ],
    [
      "a drill that missed its RPO → error",
      report({
        runbook: "restore-drill",
        details: { drills: [{ rto: { verdict: "met" }, rpo: { verdict: "missed" } }] },
      }),
      "error",
    ],
    [
      "a drill that met both → info",
      report({ details: { drills: [{ rto: { verdict: "met" }, rpo: { verdict: "met" } }] } }),
      "info",
    ],
    [
      "rollback's critical escalation → critical",
      report({
        runbook: "rollback",
        status: "failed",
        details: { escalation: { severity: "critical", reason: "rollback did not restore health" } },
      }),
      "critical",
    ],
    [
      "an escalation of an unknown severity is ignored",
      report({ details: { escalation: { severity: "doom" } } }),
      "info",
    ],
    ["a dry run never pages", report({ dryRun: true, details: { escalation: { severity: "critical" } } }), "warning"],
  ] as const)("%s", (_name, r, expected) => {
    expect(reportSeverity(r)).toBe(expected);
  });
});

describe("routeFor", () => {
  const fleet = builtinFleet();
  it("IMS 2.0's ladder, with the 4 h reminder default", () => {
    const ims = findSystem(fleet, "ims-2");
    expect(routeFor(ims, "warning").channels).toEqual(["slack"]);
    expect(routeFor(ims, "error").channels).toEqual(["slack", "sms"]);
    expect(routeFor(ims, "critical").channels).toEqual(["slack", "sms", "page"]);
    expect(routeFor(ims, "critical").reminderMs).toBe(4 * 3_600_000);
  });

  it("EZ: Slack and email, critical also pages", () => {
    const ez = findSystem(fleet, "ez-tracking");
    expect(routeFor(ez, "warning").channels).toEqual(["slack", "email"]);
    expect(routeFor(ez, "critical").channels).toEqual(["slack", "email", "page"]);
  });

  it("a system whose guide names no route goes to the log, and its defaults[] says so", () => {
    for (const id of ["partpal-ims", "flash-sale", "ode"]) {
      const system = findSystem(fleet, id);
      expect(routeFor(system, "critical").channels, id).toEqual(["log"]);
      expect(
        system.defaults.some((d) => /log only/.test(d)),
        id,
      ).toBe(true);
    }
  });
});

const state = (over: Partial<AlarmState> = {}): AlarmState => ({
  version: 1,
  alarm: "a",
  state: "ALARM",
  since: "2026-11-21T09:00:00.000Z",
  eventId: "e1",
  step: "open",
  claimedAt: "2026-11-21T09:00:01.000Z",
  delivered: ["slack"],
  episode: { startedAt: "2026-11-21T09:00:00.000Z", lastNotifiedAt: "2026-11-21T09:00:01.000Z", reminders: 0 },
  ...over,
});
const change = (value: AlarmState["state"], id = "e2", timestamp = "2026-11-21T10:00:00.000Z") => ({
  eventId: id,
  state: value,
  timestamp,
});
const now = new Date("2026-11-21T10:00:05Z");
const delivered = () => true;

describe("decideAlarmStep", () => {
  it.each([
    ["first ALARM opens", undefined, change("ALARM"), "open"],
    ["ALARM while open and in ALARM is not re-sent", state(), change("ALARM"), "skip"],
    [
      "ALARM after no data is said again in the thread",
      state({ state: "INSUFFICIENT_DATA" }),
      change("ALARM"),
      "again",
    ],
    ["OK with an open alarm resolves", state(), change("OK"), "resolve"],
    ["OK without one is recorded", state({ state: "OK", episode: undefined }), change("OK"), "record"],
    ["no data after ALARM is said", state(), change("INSUFFICIENT_DATA"), "no-data"],
    ["no data with nothing open is recorded", undefined, change("INSUFFICIENT_DATA"), "record"],
    ["an event older than the state is skipped", state(), change("OK", "e0", "2026-11-21T08:00:00.000Z"), "skip"],
    ["the same event again is a duplicate", state(), change("OK", "e1", "2026-11-21T09:00:00.000Z"), "skip"],
  ] as const)("%s", (_name, s, c, expected) => {
    expect(decideAlarmStep({ ...(s ? { state: s } : {}), change: c, now, allDelivered: delivered }).kind).toBe(
      expected,
    );
  });

  it("the same event, claimed over a minute ago and not delivered everywhere, is redone", () => {
    const step = decideAlarmStep({
      state: state(),
      change: change("ALARM", "e1", "2026-11-21T09:00:00.000Z"),
      now,
      allDelivered: () => false,
    });
    expect(step).toEqual({ kind: "redo", step: "open" });
  });

  it("within a minute an undelivered claim is another copy still at work: skipped", () => {
    const step = decideAlarmStep({
      state: state({ claimedAt: "2026-11-21T10:00:00.000Z" }),
      change: change("ALARM", "e1", "2026-11-21T09:00:00.000Z"),
      now,
      allDelivered: () => false,
    });
    expect(step.kind).toBe("skip");
  });

  it("a reminder is due only in ALARM, once the interval has passed", () => {
    const fourHours = 4 * 3_600_000;
    expect(reminderDue(state(), new Date("2026-11-21T13:00:00.999Z"), fourHours)).toBe(false);
    expect(reminderDue(state(), new Date("2026-11-21T13:00:01.000Z"), fourHours)).toBe(true);
    expect(reminderDue(state({ state: "INSUFFICIENT_DATA" }), new Date("2026-11-22T00:00:00Z"), fourHours)).toBe(false);
  });
});

describe("the Slack report message", () => {
  it("folds a long report: failures first, the rest counted, within Slack's limits", () => {
    const actions = Array.from({ length: 200 }, (_, i) => ({
      resource: `svc-${i}`,
      action: "scale-down",
      status: i === 150 ? ("failed" as const) : ("done" as const),
      ...(i === 150 ? { reason: "ThrottlingException" } : {}),
    }));
    const message = reportMessage(report({ runbook: "scale-down", status: "partial", actions }));
    const text = JSON.stringify(message.blocks);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    expect(text).toContain("svc-150");
    expect(text).toContain("and 192 more (192 done)");
    for (const block of message.blocks) {
      const text = "text" in block ? block.text : undefined;
      if (text && typeof text === "object") expect(text.text.length).toBeLessThanOrEqual(3000);
    }
    expect(text).not.toContain("http");
  });

  it("never shows a secret from a report", () => {
    const message = reportMessage(
      report({
        status: "failed",
        summary: "connect postgres://ims:s3cr3t@db/ims failed",
        details: { token: "xoxb-1" },
      }),
    );
    expect(JSON.stringify(message)).not.toContain("s3cr3t");
  });
});
