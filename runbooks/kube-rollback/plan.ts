/**
 * The decision of an automatic rollback on Kubernetes, as pure functions of what was read: no API, no clock.
 * The guards are the ECS rollback's (`rollback/guards.ts`); only the target differs: the previous revision
 * (what `kubectl rollout undo` does), not the last known-good. Revisions are identified by their
 * replicaset's `pod-template-hash` (stable), not by the `deployment.kubernetes.io/revision` number, which a
 * rollback renumbers.
 */

import type { ProbeVerdict } from "../../lib/health/evaluate.js";
import { checkGuards, type SharedGuardName } from "../rollback/guards.js";

/** One revision of a deployment: its replicaset's template hash and revision number. */
export interface Revision {
  hash: string;
  revision: number;
}

/** What found the failure: the rollout's progress deadline, or the health probe (N failures after the rollout). */
export type KubeTrigger = "deadline" | "probe";

/** Known-good only after the health probe has seen the revision pass for the bake time (when it can reach one). */
export interface BakeFacts {
  /** The probe's verdict on the current revision; absent when it has not probed this revision yet. */
  verdict?: ProbeVerdict | undefined;
  /** Since when the probe has seen the current revision pass without a failure. */
  healthySince?: Date | undefined;
  bakeMinutes: number;
}

/** Everything the rollback check looks at for one deployment. */
export interface RollbackInput {
  /** `namespace/deployment`, for messages (default: "the deployment"). */
  name?: string | undefined;
  /** Why it failed (`rollout failed (ProgressDeadlineExceeded: …)`, `health endpoint … failed 3 times …`), absent when it has not. */
  failure?: string | undefined;
  /** Default `deadline`: no window (a failed rollout is the rollout's); a `probe` failure is judged against it. */
  trigger?: KubeTrigger | undefined;
  /** For a probe trigger: the template hash the failures were counted on. */
  failedHash?: string | undefined;
  /** The rollout is complete and every updated replica is available. */
  healthy: boolean;
  current?: Revision | undefined;
  /** The newest revision older than the current one: where `kubectl rollout undo` goes. */
  previous?: Revision | undefined;
  /** Hash of the last revision seen healthy (annotation). */
  knownGood?: string | undefined;
  /** Hashes that were rolled back from: never returned to automatically (annotation). */
  rolledBackFrom: readonly string[];
  lastRollbackAt?: Date | undefined;
  /** Hashes of the last rollback (annotation), for the cooldown's message. */
  lastRollback?: { from: string; to: string } | undefined;
  cooldownMinutes: number;
  /**
   * How long this runbook follows its own rollback (`rollback.followMinutes`): a failure seen within that
   * long of our rollback to the current revision or to the target is that rollback still under way.
   */
  followMinutes?: number | undefined;
  /** For a probe trigger: a failure later than this after the rollout is not blamed on it. */
  windowMinutes?: number | undefined;
  /** When the current revision rolled out (its replicaset's creation). */
  deployedAt?: Date | undefined;
  /** Present when the deployment has a probe-able health endpoint. */
  bake?: BakeFacts | undefined;
  now: Date;
  dryRun?: boolean | undefined;
}

/** What the check does with one deployment. */
export type RollbackDecision =
  | { kind: "none"; reason: string }
  | { kind: "mark-good"; hash: string; reason: string }
  | { kind: "escalate"; reason: string; guard?: SharedGuardName | "no-revision" | "no-earlier-revision" }
  | { kind: "rollback"; from: Revision; to: Revision; reason: string; send: boolean };

/**
 * Rules, in order: healthy → remember the revision as known-good (so a later failure knows where "good"
 * was; with a probe-able endpoint only after it passed for the bake time); not failed → nothing; failed
 * with no readable revision → escalate; the probe's failures were counted on another revision than runs
 * now (someone rolled out or back meanwhile) → nothing; (deadline) our own rollback to the current revision or
 * the target is younger than `followMinutes` → nothing, it is being followed; no earlier revision → escalate;
 * then the guards shared with the ECS rollback
 * (`rollback/guards.ts`), the earlier revision as the target: the failing revision is the known-good one,
 * the earlier revision was rolled back from, (probe only) outside the window, within the cooldown → escalate;
 * else roll back to the earlier revision's pod template (sent unless a dry run).
 */
export function decideRollback(input: RollbackInput): RollbackDecision {
  const { current, previous } = input;
  if (input.healthy) return healthyDecision(input);
  if (!input.failure) return { kind: "none", reason: "rollout in progress, not failed: nothing to do" };
  if (!current) {
    return { kind: "escalate", guard: "no-revision", reason: `${input.failure}; its current replicaset was not found` };
  }
  if (input.failedHash !== undefined && current.hash !== input.failedHash) {
    return {
      kind: "none",
      reason: `the failures were counted on template ${input.failedHash}, and it now runs revision ${current.revision}: counted afresh`,
    };
  }
  const followed = followedRollback(input);
  if (followed) return followed;
  if (!previous) {
    return {
      kind: "escalate",
      guard: "no-earlier-revision",
      reason: `${input.failure}; no earlier revision to roll back to`,
    };
  }
  const verdict = checkGuards({
    facts: {
      name: input.name ?? "the deployment",
      current: current.hash,
      target: previous.hash,
      trusted: input.knownGood,
      rolledBackFrom: input.rolledBackFrom,
      deployedAt: input.deployedAt,
      lastRollback: input.lastRollbackAt ? { at: input.lastRollbackAt, ...input.lastRollback } : undefined,
    },
    rules: {
      cooldownMinutes: input.cooldownMinutes,
      windowMinutes: input.trigger === "probe" ? input.windowMinutes : undefined,
    },
    now: input.now,
    dryRun: input.dryRun ?? false,
    targetNoun: "the earlier",
    label: (hash) => {
      const known = [current, previous].find((r) => r.hash === hash);
      return known ? `revision ${known.revision}` : hash;
    },
  });
  if (!verdict.pass) return { kind: "escalate", guard: verdict.guard, reason: `${input.failure}; ${verdict.reason}` };
  return {
    kind: "rollback",
    from: current,
    to: previous,
    reason: `${input.failure}: back to revision ${previous.revision}'s pod template`,
    send: verdict.send,
  };
}

/**
 * A failed rollout seen within `followMinutes` of our own rollback to the current revision or to the target:
 * that rollback is under way (a duplicate delivery that re-read before the controller saw the write, a run
 * overlapping the follow, the failed revision's ProgressDeadlineExceeded still standing) and the run that
 * sent it follows it and escalates if it does not come back. Deadline trigger only: a probe's failures are
 * counted on what runs, and the probe's own rollbacks are not followed.
 */
function followedRollback(input: RollbackInput): RollbackDecision | undefined {
  const { lastRollbackAt: at, lastRollback: last, followMinutes } = input;
  if ((input.trigger ?? "deadline") !== "deadline" || !at || !last || followMinutes === undefined) return undefined;
  if (input.now.getTime() - at.getTime() >= followMinutes * 60_000) return undefined;
  if (last.to !== input.current?.hash && last.to !== input.previous?.hash) return undefined;
  return { kind: "none", reason: `our rollback at ${at.toISOString()} is being followed` };
}

/** A healthy rollout: known-good at once, or once the probe has seen it pass for the bake time. */
function healthyDecision(input: RollbackInput): RollbackDecision {
  const { current, bake } = input;
  if (!current || current.hash === input.knownGood) return { kind: "none", reason: "rollout healthy" };
  const revision = `revision ${current.revision}`;
  if (!bake) return { kind: "mark-good", hash: current.hash, reason: `${revision} is healthy: known-good` };
  if (bake.verdict !== "healthy" || !bake.healthySince) {
    const seen = bake.verdict ? `the health probe says ${bake.verdict}` : "the health probe has not seen it yet";
    return { kind: "none", reason: `rollout healthy; ${revision} is not known-good yet: ${seen}` };
  }
  const bakedMs = input.now.getTime() - bake.healthySince.getTime();
  if (bakedMs < bake.bakeMinutes * 60_000) {
    const left = Math.ceil((bake.bakeMinutes * 60_000 - bakedMs) / 60_000);
    return {
      kind: "none",
      reason: `rollout healthy; ${revision} bakes: ${left} of ${bake.bakeMinutes} min left on its probe`,
    };
  }
  return {
    kind: "mark-good",
    hash: current.hash,
    reason: `${revision} is healthy and passed its health probe for ${bake.bakeMinutes} min: known-good`,
  };
}

/** RFC 7386 merge patch that turns `from` into `to` (keys only in `from` become `null`). */
export function mergePatchBetween(from: unknown, to: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    if (JSON.stringify(from[key]) === JSON.stringify(value)) continue;
    patch[key] = mergePatchBetween(from[key], value);
  }
  return patch;
}
