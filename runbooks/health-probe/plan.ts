import type { ProbeVerdict } from "../../lib/health/evaluate.js";
import type { BakeRecord } from "../rollback/tags.js";

/**
 * Known-good tracking as a pure decision: a completed deployment becomes the last known-good once it has
 * stayed healthy for the whole bake time. Nothing here waits: each probe run (every minute) re-checks,
 * so the bake needs no sleeping Lambda, and a failure at any check ends it for good.
 */

/** What one probe run saw of a service under bake. */
export interface BakeFacts {
  bake: BakeRecord;
  /** `family:revision` the PRIMARY deployment runs now. */
  current: string;
  /** One deployment left, COMPLETED, all tasks running. */
  steady: boolean;
  /** The probe's verdict after this run's samples; undefined when the service has no probe-able endpoint. */
  probe?: ProbeVerdict;
  /** Names of the system's alarms in ALARM now. */
  alarmsInAlarm: readonly string[];
  now: Date;
  bakeMinutes: number;
}

/** Promote, fail the bake (with why), wait (with how long is left), or nothing to do. */
export type BakeDecision =
  | { kind: "promote"; why: string }
  | { kind: "fail"; reason: string }
  | { kind: "wait"; reason: string; remainingMs: number }
  | { kind: "none"; reason: string };

/** The rules in order: the bake's own state, a newer deployment, alarms, probe, time, steadiness. */
export function decideBake(facts: BakeFacts): BakeDecision {
  const { bake } = facts;
  if (bake.state !== "baking") return { kind: "none", reason: `bake of ${bake.revision} already ${bake.state}` };
  if (facts.current !== bake.revision) {
    return { kind: "fail", reason: `superseded: the service now runs ${facts.current}, not ${bake.revision}` };
  }
  if (facts.alarmsInAlarm.length > 0) {
    return { kind: "fail", reason: `alarm in ALARM during the bake: ${facts.alarmsInAlarm.join(", ")}` };
  }
  if (facts.probe !== undefined && facts.probe !== "healthy") {
    return { kind: "fail", reason: `health probe ${facts.probe} during the bake` };
  }
  const remainingMs = bake.started.getTime() + facts.bakeMinutes * 60_000 - facts.now.getTime();
  if (remainingMs > 0) {
    return {
      kind: "wait",
      reason: `baking: ${Math.ceil(remainingMs / 1000)} s of ${facts.bakeMinutes} min left`,
      remainingMs,
    };
  }
  if (!facts.steady)
    return { kind: "wait", reason: "bake time over but the service is not steady yet", remainingMs: 0 };
  const probe = facts.probe === undefined ? "no probe-able endpoint" : "probe passing";
  return {
    kind: "promote",
    why: `baked ${facts.bakeMinutes} min after deployment ${bake.deployment} - alarms OK - ${probe}`,
  };
}
