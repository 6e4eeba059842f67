/**
 * The ECS rollback's decision as a pure function of what was read: no AWS, no clock. The rules only ECS
 * needs (controllers, the circuit breaker's own rollback) are here; the guards every rollback shares
 * (already known-good, rolled back from, window, cooldown, dry run) are in `guards.ts`, which the
 * Kubernetes rollback applies too. Every guard has a name; a blocked decision carries it.
 */

import { checkGuards, type Escalation, type SharedGuardName } from "./guards.js";

/** What set the rollback off. */
export type TriggerKind = "alarm" | "probe" | "deployment-failed" | "manual";

/** Names of the rules that can stop a rollback, in the order they are applied (the last four are shared). */
export type GuardName =
  | "disabled"
  | "controller"
  | "platform-rollback"
  | "no-known-good"
  | "in-progress"
  | SharedGuardName;

/** Who drives the workload's deployments: we can drive `rolling`; the others belong to another tool. */
export type Controller = "rolling" | "code-deploy" | "external";

/** What was read from the workload. */
export interface WorkloadFacts {
  /** `cluster/service`, `namespace/deployment`. */
  name: string;
  controller: Controller;
  /** The revision the workload is (being) deployed to now. */
  current: string;
  /** When the deployment of `current` began. */
  deployedAt?: Date;
  /** A deployment of `current` is still rolling out (not yet steady). */
  rollingOut: boolean;
  /** The platform's own rollback is under way (ECS circuit breaker, `kubectl rollout undo` in flight), with why we think so. */
  platformRollback?: string;
  knownGood?: { revision: string; at?: Date; why?: string };
  /** Revisions we rolled back *from*: never a target again. */
  rolledBackFrom: readonly string[];
  lastRollback?: { at: Date; from: string; to: string };
}

/** The policy numbers (catalogue `rollback`). */
export interface RollbackRules {
  enabled: boolean;
  windowMinutes: number;
  cooldownMinutes: number;
}

/** Inputs of {@link decideRollback}. */
export interface DecideOptions {
  facts: WorkloadFacts;
  rules: RollbackRules;
  trigger: { kind: TriggerKind; at: Date };
  now: Date;
  /** An explicit target (by hand: `to=<revision>`), instead of the last known-good. */
  to?: string;
  /** Plan and report only: the decision says `send: false`. */
  dryRun?: boolean;
}

export type { Escalation } from "./guards.js";

/** Roll back (sending the change unless a dry run), stop with a guard's reason, wait, or hand over to a person. */
export type RollbackDecision =
  | { kind: "rollback"; from: string; to: string; reason: string; send: boolean }
  | { kind: "blocked"; guard: GuardName; reason: string; escalation?: Escalation }
  | { kind: "wait"; guard: GuardName; reason: string }
  | { kind: "manual"; guard: GuardName; reason: string; instructions: string };

/**
 * Applies the ECS-only rules (disabled, controller, platform rollback, no target, a rollback already under
 * way), then the shared guards (`guards.ts`) with the last known-good (or `to=`) as the target, and, when
 * none stops it, decides the rollback `current → target`. The page `rollback.md` gives the reason for each.
 */
export function decideRollback(options: DecideOptions): RollbackDecision {
  const { facts, rules } = options;
  if (!rules.enabled) return blocked("disabled", "rollback is disabled for this system in the catalogue");
  if (facts.controller !== "rolling") return handOver(facts);
  if (facts.platformRollback) return { kind: "wait", guard: "platform-rollback", reason: facts.platformRollback };
  const target = options.to ?? facts.knownGood?.revision;
  if (!target) {
    return blocked("no-known-good", `no last known-good revision is recorded for ${facts.name}, and no to= was given`, {
      severity: "critical",
      reason: `${facts.name} is failing and has no known-good revision to roll back to: a person must decide`,
    });
  }
  const underWay = target === facts.current ? rollbackUnderWay(options, target) : undefined;
  if (underWay) return underWay;
  const verdict = checkGuards({
    facts: {
      name: facts.name,
      current: facts.current,
      target,
      trusted: target,
      rolledBackFrom: facts.rolledBackFrom,
      deployedAt: facts.deployedAt,
      lastRollback: facts.lastRollback,
    },
    rules,
    now: options.now,
    manual: options.trigger.kind === "manual",
    dryRun: options.dryRun ?? false,
  });
  if (!verdict.pass) return blocked(verdict.guard, verdict.reason, verdict.escalation);
  return {
    kind: "rollback",
    from: facts.current,
    to: target,
    reason: rollbackReason(options, target),
    send: verdict.send,
  };
}

/** The target is what runs already because a rollback to it is rolling out, or was made for this very trigger. */
function rollbackUnderWay(options: DecideOptions, target: string): RollbackDecision | undefined {
  const { facts } = options;
  if (facts.rollingOut) {
    return {
      kind: "wait",
      guard: "in-progress",
      reason: `a deployment to ${target} is already rolling out: wait for it`,
    };
  }
  if (facts.lastRollback?.to === target && options.trigger.at.getTime() <= facts.lastRollback.at.getTime()) {
    return blocked("in-progress", `already rolled back to ${target} at ${facts.lastRollback.at.toISOString()}`);
  }
  return undefined;
}

function handOver(facts: WorkloadFacts): RollbackDecision {
  const instructions =
    facts.controller === "code-deploy"
      ? `stop the CodeDeploy deployment with rollback (aws deploy stop-deployment --deployment-id <id> --auto-rollback-enabled), or redeploy ${facts.knownGood?.revision ?? "the previous revision"} through CodeDeploy`
      : `roll back with the tool that drives ${facts.name}'s task sets (e.g. update-service-primary-task-set to the task set running ${facts.knownGood?.revision ?? "the previous revision"})`;
  return {
    kind: "manual",
    guard: "controller",
    reason: `${facts.name} is deployed by ${facts.controller === "code-deploy" ? "CodeDeploy" : "an external controller"}, which we do not drive`,
    instructions,
  };
}

function blocked(guard: GuardName, reason: string, escalation?: Escalation): RollbackDecision {
  return { kind: "blocked", guard, reason, ...(escalation ? { escalation } : {}) };
}

function rollbackReason(options: DecideOptions, target: string): string {
  const source = options.to ? "as asked (to=)" : "its last known-good";
  return `${options.trigger.kind} trigger: ${options.facts.current} → ${target} (${source})`;
}

/** The list of rolled-back-from revisions after one more, newest first, at most `keep` (tags are 256 chars). */
export function withRolledBackFrom(list: readonly string[], revision: string, keep = 6): string[] {
  return [revision, ...list.filter((r) => r !== revision)].slice(0, keep);
}
