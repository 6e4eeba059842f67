/**
 * Rollback's decision as a pure function of what was read: no AWS, no clock, no Kubernetes. The facts are
 * those of any workload that runs a *revision* (an ECS task definition `family:revision`, a Kubernetes
 * deployment's ReplicaSet revision), so a Kubernetes rollback reuses this module unchanged and only
 * reads and writes its own facts. Every guard has a name; a blocked decision carries it.
 */

/** What set the rollback off. */
export type TriggerKind = "alarm" | "probe" | "deployment-failed" | "manual";

/** Names of the rules that can stop a rollback, in the order they are applied. */
export type GuardName =
  | "disabled"
  | "controller"
  | "platform-rollback"
  | "in-progress"
  | "no-known-good"
  | "already-known-good"
  | "rolled-back-from"
  | "outside-window"
  | "cooldown";

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
}

/** An escalation a router turns into a page: the alarm remains someone's job. */
export interface Escalation {
  severity: "critical" | "error" | "warning";
  reason: string;
}

/** Roll back, stop with a guard's reason, wait for something under way, or hand over to a person. */
export type RollbackDecision =
  | { kind: "rollback"; from: string; to: string; reason: string }
  | { kind: "blocked"; guard: GuardName; reason: string; escalation?: Escalation }
  | { kind: "wait"; guard: GuardName; reason: string }
  | { kind: "manual"; guard: GuardName; reason: string; instructions: string };

const MINUTE = 60_000;

/**
 * Applies the guards in order (the page `rollback.md` gives the reason for each) and, when none stops it,
 * decides the rollback `current → target`.
 */
export function decideRollback(options: DecideOptions): RollbackDecision {
  const { facts, rules, now } = options;
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
  if (target === facts.current) return onTarget(options, target);
  if (facts.rolledBackFrom.includes(target)) {
    return blocked("rolled-back-from", `${target} was itself rolled back from earlier: never a rollback target again`);
  }
  const manual = options.trigger.kind === "manual";
  if (!manual && facts.deployedAt && now.getTime() - facts.deployedAt.getTime() > rules.windowMinutes * MINUTE) {
    const age = Math.round((now.getTime() - facts.deployedAt.getTime()) / MINUTE);
    return blocked(
      "outside-window",
      `${facts.current} was deployed ${age} min ago, beyond the ${rules.windowMinutes}-min rollback window: not blamed on the deployment`,
      {
        severity: "critical",
        reason: `${facts.name} is failing ${age} min after its last deployment: not a deploy problem`,
      },
    );
  }
  const last = facts.lastRollback;
  if (!manual && last && now.getTime() - last.at.getTime() < rules.cooldownMinutes * MINUTE) {
    return blocked(
      "cooldown",
      `last rollback (${last.from} → ${last.to}) was at ${last.at.toISOString()}, within the ${rules.cooldownMinutes}-min cooldown`,
      {
        severity: "critical",
        reason: `${facts.name} is failing again within ${rules.cooldownMinutes} min of a rollback`,
      },
    );
  }
  return { kind: "rollback", from: facts.current, to: target, reason: rollbackReason(options, target) };
}

/** The target is what runs already: a rollback under way (wait), or a failure that is not the deployment's. */
function onTarget(options: DecideOptions, target: string): RollbackDecision {
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
  return blocked("already-known-good", `${facts.name} already runs ${target}, its last known-good`, {
    severity: "critical",
    reason: `${facts.name} fails on its last known-good revision ${target}: not a deploy problem`,
  });
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
