/**
 * The guards of an automatic rollback on Kubernetes, as pure functions of what was read: no API, no clock.
 * Revisions are identified by their replicaset's `pod-template-hash` (stable), not by the
 * `deployment.kubernetes.io/revision` number, which a rollback renumbers.
 */

/** One revision of a deployment: its replicaset's template hash and revision number. */
export interface Revision {
  hash: string;
  revision: number;
}

/** Everything the rollback check looks at for one deployment. */
export interface RollbackInput {
  /** Why the rollout failed (`ProgressDeadlineExceeded: …`), absent when it has not. */
  failure?: string | undefined;
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
  cooldownMinutes: number;
  now: Date;
}

/** What the check does with one deployment. */
export type RollbackDecision =
  | { kind: "none"; reason: string }
  | { kind: "mark-good"; hash: string; reason: string }
  | { kind: "escalate"; reason: string }
  | { kind: "rollback"; from: Revision; to: Revision; reason: string };

/**
 * Rules, in order: healthy → remember the revision as known-good (so a later failure knows where "good"
 * was); still progressing → nothing; failed with no readable revision → escalate; the failing revision is
 * the known-good one → escalate (rolling back would leave the last good state); rolled back within the
 * cooldown → escalate (a rollback that did not help must not flap); no earlier revision → escalate; the
 * earlier revision is one that was rolled back from → escalate (never back to a known-bad state); else roll
 * back to the earlier revision's pod template.
 */
export function decideRollback(input: RollbackInput): RollbackDecision {
  const { current, previous } = input;
  if (input.healthy) {
    if (current && current.hash !== input.knownGood) {
      return { kind: "mark-good", hash: current.hash, reason: `revision ${current.revision} is healthy: known-good` };
    }
    return { kind: "none", reason: "rollout healthy" };
  }
  if (!input.failure) return { kind: "none", reason: "rollout in progress, not failed: nothing to do" };
  if (!current) return { kind: "escalate", reason: `${input.failure}; its current replicaset was not found` };
  if (current.hash === input.knownGood) {
    return {
      kind: "escalate",
      reason: `${input.failure}; revision ${current.revision} is the known-good one, so rolling back would leave the last good state: a person must look`,
    };
  }
  if (input.lastRollbackAt) {
    const ageMin = Math.floor((input.now.getTime() - input.lastRollbackAt.getTime()) / 60_000);
    if (ageMin < input.cooldownMinutes) {
      return {
        kind: "escalate",
        reason: `${input.failure}; rolled back ${ageMin} min ago, within the ${input.cooldownMinutes}-min cooldown: not again`,
      };
    }
  }
  if (!previous) return { kind: "escalate", reason: `${input.failure}; no earlier revision to roll back to` };
  if (input.rolledBackFrom.includes(previous.hash)) {
    return {
      kind: "escalate",
      reason: `${input.failure}; the earlier revision ${previous.revision} was itself rolled back from: not returned to`,
    };
  }
  return {
    kind: "rollback",
    from: current,
    to: previous,
    reason: `${input.failure}: back to revision ${previous.revision}'s pod template`,
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
