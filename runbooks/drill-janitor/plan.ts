import type { FoundCheckRole } from "../../lib/postgres/check-role.js";
import type { ScratchDatabase } from "../../lib/postgres/scratch.js";
import { parseDrillTimestamp, startedAtFromName } from "../restore-drill/names.js";
import { JANITOR_GRACE_MS } from "../restore-drill/plan.js";
import type { DrillInstance } from "../restore-drill/rds-instances.js";

/**
 * The janitor's decisions, pure: for each leftover a drill may have left (scratch database, check role,
 * scratch RDS instance, pending plan or claim), keep it with the reason, remove it with the reason, or
 * leave it alone because it is not ours. `index.ts` reads, `apply.ts` removes (or, in a dry run, says
 * it would).
 */

/** What to do with one leftover. */
export type Verdict =
  | { kind: "ignore" }
  | { kind: "keep"; reason: string }
  | { kind: "remove"; reason: string }
  /** Neither kept nor removed: a person must look (reported failed). */
  | { kind: "refuse"; reason: string };

/** What {@link judgeScratchDatabase} decides from. */
export interface ScratchFacts {
  system: string;
  /** `scratchDatabasePrefix(system, database)` of every database of the system. */
  prefixes: readonly string[];
  /** The system's default drill deadline, for a database without COMMENT. */
  defaultDeadlineMinutes: number;
  now: Date;
}

/**
 * A `drill_…` database on the drill target:
 * 1. with a COMMENT, the COMMENT's system decides whose it is and its deadline when it may go;
 * 2. without (the drill died between CREATE DATABASE and COMMENT), only a name that is exactly
 *    `drill_<system>_<database>_<hash>_<timestamp>` is ours — the hash is of this system's own ids, so
 *    neither a look-alike (`..._reports`) nor another system's drill matches — and its deadline is its
 *    start plus the default deadline and the drill's own grace;
 * 3. before its deadline it is kept (a drill is in progress), after it removed.
 */
export function judgeScratchDatabase(scratch: ScratchDatabase, facts: ScratchFacts): Verdict {
  const { comment } = scratch;
  if (comment) {
    if (comment.system !== facts.system) return { kind: "ignore" };
    return byDeadline(new Date(comment.deadline), facts.now, `drill ${comment.drillId}`, ` (drill ${comment.drillId})`);
  }
  const started = facts.prefixes
    .flatMap((p) => (scratch.name.startsWith(p) ? [parseDrillTimestamp(scratch.name.slice(p.length))] : []))
    .find(Boolean);
  if (!started) return { kind: "ignore" };
  const deadline = new Date(started.getTime() + facts.defaultDeadlineMinutes * 60_000 + JANITOR_GRACE_MS);
  return byDeadline(deadline, facts.now, `drill ${scratch.name}`, " (no COMMENT: deadline from its name)");
}

function byDeadline(deadline: Date, now: Date, who: string, why: string): Verdict {
  if (deadline.getTime() > now.getTime()) {
    return { kind: "keep", reason: `${who} in progress until ${deadline.toISOString()}` };
  }
  return { kind: "remove", reason: `past its deadline ${deadline.toISOString()}${why}` };
}

/**
 * A drill's check role: ours only when its COMMENT names this system (role and COMMENT are created in
 * one transaction, so an unlabelled one cannot be a drill's); kept until its deadline.
 */
export function judgeCheckRole(role: FoundCheckRole, system: string, now: Date): Verdict {
  if (role.comment?.system !== system) return { kind: "ignore" };
  const deadline = new Date(role.comment.deadline);
  if (deadline.getTime() > now.getTime()) return { kind: "keep", reason: `in use until ${deadline.toISOString()}` };
  return { kind: "remove", reason: `past its deadline ${deadline.toISOString()}` };
}

/** Instance states from which SQL can reach the restored copy. */
export const CONNECTABLE = new Set(["available", "backing-up", "storage-optimization"]);

/** What to do with a scratch RDS instance. */
export type InstanceVerdict =
  | { kind: "keep"; reason: string }
  | { kind: "refuse"; reason: string }
  /** Its "available" event was lost: continue the drill here. */
  | { kind: "continue" }
  /** Delete it; `timedOut` drills also get a failed record (with the deadline they missed). */
  | { kind: "remove"; reason: string; timedOut: boolean; deadline?: Date };

/** Options of {@link judgeInstance}. */
export interface InstanceFacts {
  defaultDeadlineMinutes: number;
  continueAvailable: boolean;
  now: Date;
}

/**
 * A scratch RDS instance of this system, in order:
 * 1. already deleting → kept (nothing to do);
 * 2. judged (passed/failed) → removed: its own deletion did not happen;
 * 3. no deadline tag and no start time → refused: nothing says when it may go, a person must look;
 * 4. before its deadline → continued when it is connectable and still `restoring` (RDS events are best
 *    effort), else kept;
 * 5. past its deadline → removed, and the drill recorded as timed out.
 */
export function judgeInstance(drill: DrillInstance, facts: InstanceFacts): InstanceVerdict {
  if (drill.status === "deleting") return { kind: "keep", reason: "already being deleted" };
  if (drill.state === "passed" || drill.state === "failed") {
    return { kind: "remove", reason: `drill already ${drill.state}; its own deletion did not happen`, timedOut: false };
  }
  // Without its deadline tag, a drill's deadline is its start (tag, else identifier) plus the default.
  const started = drill.startedAt ?? startedAtFromName(drill.instanceId);
  const deadline =
    drill.deadline ?? (started ? new Date(started.getTime() + facts.defaultDeadlineMinutes * 60_000) : undefined);
  if (!deadline) {
    return {
      kind: "refuse",
      reason: `drill ${drill.drillId} has no deadline or start time: not deleted, check it by hand`,
    };
  }
  if (deadline.getTime() > facts.now.getTime()) {
    if (facts.continueAvailable && drill.state === "restoring" && CONNECTABLE.has(drill.status)) {
      return { kind: "continue" };
    }
    return {
      kind: "keep",
      reason: `drill ${drill.drillId} in progress (${drill.status}, ${drill.state}) until ${deadline.toISOString()}`,
    };
  }
  return {
    kind: "remove",
    reason: `past its deadline ${deadline.toISOString()}${drill.deadline ? "" : " (no deadline tag: start + default)"} (${drill.status}, ${drill.state})`,
    timedOut: true,
    deadline,
  };
}

/** What {@link judgePendingObject} decides from. */
export interface PendingFacts {
  key: string;
  /** The plan the object holds, when it parses as one. */
  plan?: { instanceId: string; deadline: string } | undefined;
  /** Scratch instances that still exist. */
  live: ReadonlySet<string>;
  /** `pendingClaimsPrefix(system)`: claims sit beside the plans. */
  claimsPrefix: string;
  now: Date;
}

/**
 * A pending RDS drill plan (or claim) is removed once its instance is gone and its deadline passed (an
 * unreadable one has no deadline: its instance alone decides); the same rule removes claims, under their
 * own action name. Undefined: keep it.
 */
export function judgePendingObject(facts: PendingFacts): "delete-drill-claim" | "delete-drill-plan" | undefined {
  const { key, plan } = facts;
  const instanceId = plan ? plan.instanceId : key.slice(key.lastIndexOf("/") + 1).replace(/\.json$/, "");
  if (facts.live.has(instanceId)) return undefined;
  if (plan && new Date(plan.deadline).getTime() > facts.now.getTime()) return undefined;
  return key.startsWith(facts.claimsPrefix) ? "delete-drill-claim" : "delete-drill-plan";
}
