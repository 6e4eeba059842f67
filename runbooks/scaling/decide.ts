import type { DeploymentActivity } from "./ecs.js";
import {
  type Bounds,
  type Capacity,
  type CapacityRecord,
  ECS_MARKS,
  type KeepAwakeState,
  type MarkKeys,
  type RecordState,
} from "./tags.js";

/**
 * The decisions of off-hours scaling, as pure functions of what was read: no AWS, no clock. The runbooks
 * carry them out; the tests pin every rule here without mocks.
 */

/** A capacity in one short phrase: `desired 4 (min 2, max 10)`. */
export function describeCapacity(capacity: Capacity): string {
  const bounds = capacity.bounds ? ` (min ${capacity.bounds.min}, max ${capacity.bounds.max})` : "";
  return `desired ${capacity.desired}${bounds}`;
}

/** A capacity as JSON for a report's before/after. */
export function capacityJson(capacity: Capacity): { desired: number; min?: number; max?: number } {
  return capacity.bounds
    ? { desired: capacity.desired, min: capacity.bounds.min, max: capacity.bounds.max }
    : { desired: capacity.desired };
}

/** True when two optional bounds are equal (both absent counts as equal). */
export function sameBounds(a: Bounds | undefined, b: Bounds | undefined): boolean {
  return a?.min === b?.min && a?.max === b?.max;
}

/** True when two capacities are equal field by field. */
export function sameCapacity(a: Capacity, b: Capacity): boolean {
  return a.desired === b.desired && sameBounds(a.bounds, b.bounds);
}

/** Everything scale-down looks at for one service. */
export interface ScaleDownInput {
  floor: number;
  current: Capacity;
  record: RecordState;
  optOut: { optedOut: boolean; value?: string };
  keepAwake: KeepAwakeState;
  deployment: DeploymentActivity;
  /** A deployment younger than this is left alone (minutes). */
  graceMinutes: number;
  now: Date;
  /** Whether an off-hours period has ended (a scale-up was due) between an instant and `now`. */
  endedSince: (instant: Date) => boolean;
  /** Formats an instant in the system's zone for reasons. */
  formatTime: (instant: Date) => string;
  /** Where the marks live, for reasons (default: ECS tags). */
  marks?: MarkKeys;
  /**
   * Lowest min/max the autoscaler accepts (an HPA's maxReplicas and, without the alpha HPAScaleToZero gate,
   * minReplicas are at least 1; Application Auto Scaling accepts 0). With autoscaling, the floor is raised
   * to it, or the autoscaler would lift the count back anyway.
   */
  autoscalerMin?: number;
}

/** What scale-down does with one service. */
export type ScaleDownDecision =
  | {
      kind: "skip";
      reason: string;
      /** Set when the service is already down on our record: it still counts in tonight's savings. */
      record?: CapacityRecord;
    }
  | { kind: "fail"; reason: string }
  | {
      kind: "lower";
      target: Capacity;
      /** The record to write first; absent when one exists already (it is never overwritten). */
      write?: CapacityRecord;
      /** The original this lowering is measured from (new or kept). */
      record: CapacityRecord;
      /** A left-over record from an earlier night that `write` replaces. */
      replaces?: CapacityRecord;
    };

/** The tag/annotation rules that keep a workload as it is: opted out, kept awake, unreadable record. */
function heldBack(input: ScaleDownInput, marks: MarkKeys, noun: string): ScaleDownDecision | undefined {
  const { record, optOut, keepAwake } = input;
  if (optOut.optedOut) {
    return {
      kind: "skip",
      reason: `opted out (${marks.kind} ${marks.optOut}="${optOut.value ?? ""}"; only "false" opts in)`,
    };
  }
  if (keepAwake.kind === "active") {
    return {
      kind: "skip",
      reason: `kept awake until ${input.formatTime(keepAwake.until)} (${marks.kind} ${marks.keepAwake})`,
    };
  }
  if (keepAwake.kind === "invalid") {
    return {
      kind: "skip",
      reason: `${marks.kind} ${marks.keepAwake}="${keepAwake.value}" is unreadable, so the ${noun} is left awake; fix or remove it`,
    };
  }
  if (record.kind === "invalid") {
    return {
      kind: "fail",
      reason: `${record.error.message}; the ${noun} is not touched: fix or remove the ${marks.kind}`,
    };
  }
  return undefined;
}

/** The deployment rules: one in progress, or one younger than the grace period, is left for a later run. */
function deploymentRule(input: ScaleDownInput): ScaleDownDecision | undefined {
  const { deployment, now } = input;
  if (deployment.inProgress) {
    return { kind: "skip", reason: `deployment in progress: ${deployment.inProgress}; a later run picks it up` };
  }
  if (deployment.lastDeployedAt) {
    const ageMs = now.getTime() - deployment.lastDeployedAt.getTime();
    if (ageMs < input.graceMinutes * 60_000) {
      return {
        kind: "skip",
        reason:
          `deployed ${Math.max(0, Math.floor(ageMs / 60_000))} min ago (at ${input.formatTime(deployment.lastDeployedAt)}), ` +
          `within the ${input.graceMinutes}-min grace period; a later run picks it up`,
      };
    }
  }
  return undefined;
}

/**
 * Scale-down rules, in order: opted out → skip; kept awake → skip; unreadable record → fail (touch
 * nothing); deployment in progress or younger than the grace period → skip (a later run picks it up);
 * desired below the floor (a team's own choice, e.g. 0) → skip; otherwise lower desired to the floor and
 * min/max to at most the floor. The first lowering records the original; a later one (a second run, or
 * after a redeploy reset the count at night) keeps that record and never replaces it with the floor. A
 * record that outlived its off-hours period (a scale-up restored the service but could not remove the tag)
 * is not the original any more: lowering then records the current capacity over it.
 */
export function decideScaleDown(input: ScaleDownInput): ScaleDownDecision {
  const { current } = input;
  const marks = input.marks ?? ECS_MARKS;
  const noun = marks.kind === "tag" ? "service" : "deployment";
  const floor = current.bounds ? Math.max(input.floor, input.autoscalerMin ?? 0) : input.floor;
  const held = heldBack(input, marks, noun) ?? deploymentRule(input);
  if (held) return held;
  if (current.desired < floor) {
    return {
      kind: "skip",
      reason: `desired ${current.desired} is below the floor ${floor} (the team's setting): left as it is`,
    };
  }
  return lowerToFloor(input, floor);
}

/**
 * Lowers to the floor: min/max to at most the floor, the original recorded once. A record that outlived its
 * off-hours period is replaced by the current capacity; already at the floor is a skip.
 */
function lowerToFloor(input: ScaleDownInput, floor: number): ScaleDownDecision {
  const { current, record, now } = input;
  const target: Capacity = current.bounds
    ? {
        desired: floor,
        bounds: { min: Math.min(current.bounds.min, floor), max: Math.min(current.bounds.max, floor) },
      }
    : { desired: floor };
  const kept = record.kind === "present" ? record.record : undefined;
  if (sameCapacity(current, target)) {
    return kept
      ? {
          kind: "skip",
          reason: `already at the floor; original ${describeCapacity(kept)} recorded at ${input.formatTime(kept.at)}`,
          record: kept,
        }
      : { kind: "skip", reason: `already at the floor ${floor}: nothing to lower, nothing recorded` };
  }
  if (kept && !input.endedSince(kept.at)) return { kind: "lower", target, record: kept };
  const fresh: CapacityRecord = current.bounds
    ? { desired: current.desired, bounds: current.bounds, floor, at: now }
    : { desired: current.desired, floor, at: now };
  return { kind: "lower", target, write: fresh, record: fresh, ...(kept ? { replaces: kept } : {}) };
}

/** Everything scale-up looks at for one service. */
export interface ScaleUpInput {
  current: Capacity;
  record: RecordState;
  /** What the autoscaler is called in notes (default: Application Auto Scaling's "scalable target"). */
  autoscaler?: "scalable target" | "HorizontalPodAutoscaler";
  /** What the workload is called in reasons (default: "service"). */
  noun?: string;
}

/** What scale-up does with one service. */
export type ScaleUpDecision =
  | { kind: "skip"; reason: string }
  | { kind: "fail"; reason: string }
  | {
      kind: "restore";
      target: Capacity;
      /** Whether any capacity changes (else only the record is cleared). */
      change: boolean;
      notes: string[];
      record: CapacityRecord;
    };

/**
 * The min/max scale-up sets: the recorded ones while the autoscaler still exists, none when it was removed,
 * the current ones when it was created during the night. Each exception is explained in `notes`.
 */
function restoredBounds(
  original: CapacityRecord,
  current: Capacity,
  autoscaler: NonNullable<ScaleUpInput["autoscaler"]>,
  notes: string[],
): Bounds | undefined {
  if (original.bounds && current.bounds) return original.bounds;
  if (original.bounds) {
    notes.push(
      autoscaler === "scalable target"
        ? "the scalable target is no longer registered: min/max not restored"
        : `the ${autoscaler} was removed during off-hours: min/max not restored`,
    );
    return undefined;
  }
  if (current.bounds) {
    notes.push(
      autoscaler === "scalable target"
        ? "a scalable target was registered during off-hours: its bounds are kept"
        : `a ${autoscaler} was created during off-hours: its bounds are kept`,
    );
    return current.bounds;
  }
  return undefined;
}

/**
 * Scale-up rules: no record → nothing changes; unreadable record → fail; desired below what scale-down set
 * (a team lowered it, e.g. to 0, during the night) → leave it and keep the record; otherwise restore the
 * recorded bounds and desired count, then clear the record. One exception to "exactly": a desired count
 * someone raised above the recorded one during the night is kept — scale-up is not the runbook that lowers.
 */
export function decideScaleUp(input: ScaleUpInput): ScaleUpDecision {
  const { current, record } = input;
  const autoscaler = input.autoscaler ?? "scalable target";
  const noun = input.noun ?? "service";
  if (record.kind === "none") {
    return {
      kind: "skip",
      reason: "nothing recorded (not scaled down by ops-autopilot, or already restored): left as it is",
    };
  }
  if (record.kind === "invalid") {
    return { kind: "fail", reason: `${record.error.message}; the ${noun} is not touched: restore it by hand` };
  }
  const original = record.record;
  // The lowest count scale-down could have left: its floor, or the recorded min when autoscaling may go lower.
  const nightLow = original.bounds ? Math.min(original.floor, original.bounds.min) : original.floor;
  if (current.desired < nightLow) {
    return {
      kind: "skip",
      reason:
        `desired ${current.desired} is below the floor ${original.floor} scale-down set: someone lowered it during ` +
        `off-hours, so it stays; the record (${describeCapacity(original)}) is kept`,
    };
  }
  const notes: string[] = [];
  const bounds = restoredBounds(original, current, autoscaler, notes);
  let desired = original.desired;
  if (current.desired > desired) {
    desired = current.desired;
    notes.push(`desired ${current.desired} was raised during off-hours above the recorded ${original.desired}: kept`);
  }
  if (bounds) desired = Math.min(Math.max(desired, bounds.min), bounds.max);
  const target: Capacity = bounds ? { desired, bounds } : { desired };
  return { kind: "restore", target, change: !sameCapacity(current, target), notes, record: original };
}
