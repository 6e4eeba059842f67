/**
 * The guards every automatic rollback applies, whatever runs the workload: one pure module used by the
 * ECS rollback (`rollback/plan.ts`) and the Kubernetes one (`kube-rollback/plan.ts`). No AWS, no API, no
 * clock. Where the rollback goes is the caller's: the ECS rollback goes to the last known-good task
 * definition, the Kubernetes one to the previous revision's pod template (what `kubectl rollout undo` does);
 * both pass it in as `target`, and the guards judge it the same way. The page `rollback.md` gives the reason
 * for each rule.
 */

/** Names of the shared guards, in the order {@link checkGuards} applies them. */
export type SharedGuardName = "already-known-good" | "rolled-back-from" | "outside-window" | "cooldown";

/** An escalation a router turns into a page: the failure remains someone's job. */
export interface Escalation {
  severity: "critical" | "error" | "warning";
  reason: string;
}

/** What the guards look at, read by the caller from its own platform. */
export interface GuardFacts {
  /** The workload, as a person reads it in a message (`cluster/service`, `namespace/deployment`). */
  name: string;
  /** The revision running (or rolling out) now. */
  current: string;
  /** Where the rollback would go: chosen by the caller (last known-good, previous revision, `to=`). */
  target: string;
  /**
   * The revision trusted as good: when it is what runs now, the failure is not the deployment's. The ECS
   * rollback passes its target (the last known-good, or the revision a person named); the Kubernetes one
   * the recorded known-good template.
   */
  trusted?: string | undefined;
  /** Revisions rolled back *from*: never a target again. */
  rolledBackFrom: readonly string[];
  /** When the deployment of `current` began (for the window). */
  deployedAt?: Date | undefined;
  lastRollback?: { at: Date; from?: string | undefined; to?: string | undefined } | undefined;
}

/** The policy numbers the guards apply. */
export interface GuardRules {
  cooldownMinutes: number;
  /** A failure is blamed on the deployment only within this long of it; absent: no window (a failed rollout is the rollout's by definition). */
  windowMinutes?: number | undefined;
}

/** Inputs of {@link checkGuards}. */
export interface GuardOptions {
  facts: GuardFacts;
  rules: GuardRules;
  now: Date;
  /** A person asked for it: the window and the cooldown are theirs to judge, not ours. */
  manual?: boolean;
  /** Plan and report only. */
  dryRun?: boolean;
  /** How the target is named in a message (`the target`, `the earlier revision`). */
  targetNoun?: string;
  /** How a revision reads in a message (a template hash as `revision 4`); default: as it is. */
  label?: (revision: string) => string;
}

/** A guard stopped the rollback, with why, and whom to page. */
export interface GuardStop {
  pass: false;
  guard: SharedGuardName;
  reason: string;
  escalation?: Escalation;
}

/** No guard stopped it: roll back, and send the change unless this is a dry run. */
export interface GuardPass {
  pass: true;
  /** False in a dry run: the rollback is decided and reported as `would-do`, nothing is sent. */
  send: boolean;
}

const MINUTE = 60_000;

/**
 * The shared rules, in order: the current revision is the trusted one (escalate: not a deploy problem);
 * the target was rolled back from (never again); outside the window (escalate: not blamed on the
 * deployment); within the cooldown (escalate: a rollback that did not help must not flap); then dry run.
 * Each rule that stops the rollback says so by name.
 */
export function checkGuards(options: GuardOptions): GuardStop | GuardPass {
  const { facts } = options;
  const label = options.label ?? ((r: string) => r);
  if (facts.trusted !== undefined && facts.current === facts.trusted) {
    return stop("already-known-good", `${facts.name} runs ${label(facts.current)}, which is the known-good one`, {
      severity: "critical",
      reason: `${facts.name} fails on its known-good revision ${label(facts.current)}: not a deploy problem`,
    });
  }
  if (facts.rolledBackFrom.includes(facts.target)) {
    return stop(
      "rolled-back-from",
      `${options.targetNoun ?? "the target"} ${label(facts.target)} was itself rolled back from: never a rollback target again`,
    );
  }
  return (!options.manual && timeGuard(options, label)) || { pass: true, send: !options.dryRun };
}

/** The two rules that depend on the clock, skipped for a person's rollback. */
function timeGuard(options: GuardOptions, label: (revision: string) => string): GuardStop | undefined {
  const { facts, rules, now } = options;
  const { windowMinutes } = rules;
  if (
    windowMinutes !== undefined &&
    facts.deployedAt &&
    now.getTime() - facts.deployedAt.getTime() > windowMinutes * MINUTE
  ) {
    const age = Math.round((now.getTime() - facts.deployedAt.getTime()) / MINUTE);
    return stop(
      "outside-window",
      `${label(facts.current)} was deployed ${age} min ago, beyond the ${windowMinutes}-min rollback window: not blamed on the deployment`,
      {
        severity: "critical",
        reason: `${facts.name} is failing ${age} min after its last deployment: not a deploy problem`,
      },
    );
  }
  const last = facts.lastRollback;
  if (last && now.getTime() - last.at.getTime() < rules.cooldownMinutes * MINUTE) {
    const age = Math.floor((now.getTime() - last.at.getTime()) / MINUTE);
    const what = last.from && last.to ? ` (${label(last.from)} → ${label(last.to)} at ${last.at.toISOString()})` : "";
    return stop(
      "cooldown",
      `rolled back ${age} min ago, within the ${rules.cooldownMinutes}-min cooldown${what}: not again`,
      {
        severity: "critical",
        reason: `${facts.name} is failing again within ${rules.cooldownMinutes} min of a rollback`,
      },
    );
  }
  return undefined;
}

function stop(guard: SharedGuardName, reason: string, escalation?: Escalation): GuardStop {
  return { pass: false, guard, reason, ...(escalation ? { escalation } : {}) };
}
