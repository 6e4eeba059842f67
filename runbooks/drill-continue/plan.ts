import { BROKEN, CONNECTABLE, type DrillInstance } from "../restore-drill/rds-instances.js";

/**
 * drill-continue's state machine, pure: what to do with a scratch instance given its RDS status and
 * its `drill-state` tag. `rds-continue.ts` reads the instance, claims, validates, deletes, records.
 */

/** What drill-continue read of the instance. */
export type ContinueFacts =
  | { found: false }
  /** Found, but without drill tags (`drill` undefined) or of another system. */
  | { found: true; drill: DrillInstance | undefined };

/** What to do. */
export type ContinueStep =
  /** Nothing: the reason is reported `skipped` on `continue-drill`. */
  | { kind: "skip"; reason: string }
  /** Judged before: only the deletion may be left (it failed, or this is a duplicate event). */
  | { kind: "delete"; state: "passed" | "failed" }
  /**
   * Claim, then validate and delete. `failure` is set when the drill fails without connecting: the
   * restore broke, or the deadline passed first (recorded, not validated).
   */
  | { kind: "validate"; drill: DrillInstance; broken: boolean; failure?: string };

/**
 * In order:
 * 1. the instance is gone → skipped (already removed: at-least-once delivery);
 * 2. no drill tags, or another system's → skipped (never touch what is not this system's drill);
 * 3. `deleting` → skipped;
 * 4. `drill-state` passed/failed → delete only, never validate twice;
 * 5. `drill-state` validating:… → skipped (another invocation holds the claim);
 * 6. a status that is neither connectable nor broken, before the deadline → skipped: wait for the next
 *    event, or the janitor;
 * 7. broken (a restore that will never be usable) or past its deadline → validate step that fails with
 *    the reason, so the drill is recorded and its instance deleted;
 * 8. connectable → validate.
 */
export function planContinue(facts: ContinueFacts, system: string, now: Date): ContinueStep {
  if (!facts.found) return { kind: "skip", reason: "instance not found (already removed)" };
  const { drill } = facts;
  if (!drill) return { kind: "skip", reason: "not a drill instance (no drill tags): left alone" };
  if (drill.system !== system) return { kind: "skip", reason: `a drill of system ${drill.system}, not ${system}` };
  if (drill.status === "deleting") return { kind: "skip", reason: "already being deleted" };
  if (drill.state === "passed" || drill.state === "failed") return { kind: "delete", state: drill.state };
  if (drill.state.startsWith("validating")) {
    return { kind: "skip", reason: "another invocation is validating this drill (duplicate event)" };
  }
  const broken = BROKEN.has(drill.status);
  const pastDeadline = drill.deadline !== undefined && drill.deadline.getTime() <= now.getTime();
  if (broken) return { kind: "validate", drill, broken, failure: `the restore ended in status ${drill.status}` };
  if (pastDeadline) {
    return {
      kind: "validate",
      drill,
      broken,
      failure: `the drill's deadline ${drill.deadline?.toISOString()} passed before the instance was validated`,
    };
  }
  if (!CONNECTABLE.has(drill.status)) {
    return {
      kind: "skip",
      reason: `instance is ${drill.status}, not yet available: waiting for the next event (or the janitor)`,
    };
  }
  return { kind: "validate", drill, broken };
}
