/**
 * Following a Kubernetes rollback until the deployment is complete on the revision it was rolled back to and
 * its health probe passes: the rule (`completeOn`) and the conditions' messages are pure functions of one
 * read; the loop (`followDeployment`) only reads, sleeps and asks the rule, as the ECS rollback's
 * `followRollback` does (`runbooks/rollback/follow.ts`).
 */

import type { V1Deployment, V1DeploymentCondition } from "@kubernetes/client-node";
import { errorMessage } from "../../lib/errors.js";
import type { ProbeSample } from "../../lib/health/evaluate.js";
import { currentReplicaSet } from "../../lib/kube/rollout.js";
import { realSleep } from "../rollback/follow.js";
import type { RunbookContext } from "../types.js";
import type { DeploymentRead } from "./run.js";

/** Where the rollback went: the replicaset's `pod-template-hash` (stable: a rollback renumbers revisions). */
export interface FollowTarget {
  hash: string;
}

/** What one read says: complete on the target, still rolling (and what is missing), or failed for good. */
export type Completion =
  | { kind: "complete"; scaledToZero?: true }
  | { kind: "waiting"; reason: string }
  | { kind: "failed"; reason: string };

const HASH_LABEL = "pod-template-hash";

const replicasWord = (n: number) => (n === 1 ? "replica" : "replicas");

/** The replica counts that are not yet `spec.replicas`, each named. */
function missingReplicas(deployment: V1Deployment): string[] {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const updated = status.updatedReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const total = status.replicas ?? 0;
  const missing: string[] = [];
  if (updated !== wanted) missing.push(`${updated} of ${wanted} ${replicasWord(wanted)} updated`);
  if (total > wanted) missing.push(`${total - wanted} old ${replicasWord(total - wanted)} pending termination`);
  else if (total < wanted) missing.push(`${total} of ${wanted} ${replicasWord(wanted)} exist`);
  if (available !== wanted) missing.push(`${available} of ${wanted} ${replicasWord(wanted)} available`);
  return missing;
}

/**
 * Rules, in order: the controller has observed the latest spec (before that, the status — conditions
 * included — describes the spec from before the rollback, whose ProgressDeadlineExceeded must not count);
 * not paused, and Progressing is not a ProgressDeadlineExceeded naming the target's replicaset (the
 * rollback's own rollout failed: failed at once, nothing will change by waiting; one naming another
 * replicaset is the failed revision's, still standing); the replicaset serving is the target's (someone may
 * have rolled out meanwhile); every replica updated and available and no old one left. Every count still
 * missing is named. Complete at 0 replicas says so: there is nothing for a probe to pass.
 */
export function completeOn(read: DeploymentRead, target: FollowTarget): Completion {
  const { deployment } = read;
  const generation = deployment.metadata?.generation ?? 0;
  const observed = deployment.status?.observedGeneration ?? 0;
  if (observed < generation) {
    return {
      kind: "waiting",
      reason: `the controller has not observed generation ${generation} yet (observed ${observed})`,
    };
  }
  const stopped = stoppedReason(read, target);
  if (stopped) return { kind: "failed", reason: stopped };
  const serving = currentReplicaSet(deployment, read.replicaSets)?.metadata?.labels?.[HASH_LABEL];
  if (serving !== target.hash) {
    return {
      kind: "waiting",
      reason: serving
        ? `template ${serving} serves, not ${target.hash}`
        : "the replicaset of its current revision was not found",
    };
  }
  const missing = missingReplicas(deployment);
  if (missing.length > 0) return { kind: "waiting", reason: missing.join("; ") };
  return deployment.spec?.replicas === 0 ? { kind: "complete", scaledToZero: true } : { kind: "complete" };
}

/**
 * Why waiting cannot help: the deployment is paused (the controller does not roll out a paused deployment),
 * or the rollback's own rollout missed its deadline. A ProgressDeadlineExceeded that names another
 * replicaset is the failed revision's, left standing until the controller sees progress (a rollback to an
 * existing replicaset can be observed before that, e.g. one replica with a 25% surge, or Recreate): waited past.
 */
function stoppedReason(read: DeploymentRead, target: FollowTarget): string | undefined {
  const { deployment } = read;
  const progressing = deployment.status?.conditions?.find((c) => c.type === "Progressing");
  if (deployment.spec?.paused || progressing?.reason === "DeploymentPaused") {
    return `the deployment is paused (${progressing?.message ?? "spec.paused"}): the controller does not roll out a paused deployment`;
  }
  if (progressing?.reason === "ProgressDeadlineExceeded" && namesTarget(progressing.message, read, target)) {
    return `the rollback's rollout failed (ProgressDeadlineExceeded: ${progressing.message ?? "no message"})`;
  }
  return undefined;
}

/**
 * The condition's message (`ReplicaSet "<name>" has timed out progressing.`) names the target's replicaset:
 * by the name read for the target's hash, or by the controller's naming, `<deployment>-<pod-template-hash>`.
 */
function namesTarget(message: string | undefined, read: DeploymentRead, target: FollowTarget): boolean {
  if (!message) return false;
  if (message.includes(`-${target.hash}"`)) return true;
  const name = read.replicaSets.find((rs) => rs.metadata?.labels?.[HASH_LABEL] === target.hash)?.metadata?.name;
  return name !== undefined && message.includes(`"${name}"`);
}

/** One condition as the report quotes it. */
export interface ConditionNote {
  /** When it was read (the condition's own `lastUpdateTime` when given). */
  at: string;
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

const conditionText = (c: V1DeploymentCondition) => `${c.status} ${c.reason ?? ""} ${c.message ?? ""}`;

/**
 * The conditions whose status, reason or message differ from what `seen` holds (by type); `seen` is updated.
 * Seeded with the conditions read before the write, it yields only what Kubernetes said since.
 */
export function changedConditions(seen: Map<string, string>, deployment: V1Deployment, now: Date): ConditionNote[] {
  const notes: ConditionNote[] = [];
  for (const c of deployment.status?.conditions ?? []) {
    const text = conditionText(c);
    if (seen.get(c.type) === text) continue;
    seen.set(c.type, text);
    notes.push({
      at: (c.lastUpdateTime ? new Date(c.lastUpdateTime) : now).toISOString(),
      type: c.type,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
    });
  }
  return notes;
}

/** The conditions as `changedConditions` remembers them. */
export function conditionsSeen(deployment: V1Deployment | undefined): Map<string, string> {
  return new Map((deployment?.status?.conditions ?? []).map((c) => [c.type, conditionText(c)]));
}

/** Options of {@link followDeployment}. */
export interface FollowOptions {
  /** One fresh read of the deployment and its replicasets. */
  read: () => Promise<DeploymentRead>;
  target: FollowTarget;
  issuedAt: Date;
  /** Give up (and report not healthy) at this instant. */
  until: Date;
  pollMs: number;
  /** The conditions read before the rollback write: only changes from these are reported. */
  before?: V1Deployment | undefined;
  /** The deployment's health probe, once it is complete; absent: complete is healthy. */
  probe?: (() => Promise<ProbeSample>) | undefined;
  /** A read that has not answered after this long counts as a failed read (default {@link READ_TIMEOUT_MS}). */
  readTimeoutMs?: number | undefined;
}

/**
 * How long one read may take. The client sets no request timeout, so a hung connection would otherwise hold
 * the follow (and the Lambda) past its deadline with the rollback already sent.
 */
export const READ_TIMEOUT_MS = 10_000;

/** How the rollback went. */
export interface FollowResult {
  healthy: boolean;
  completeAt?: Date;
  healthyAt?: Date;
  /** What the deployment's conditions said while following, oldest first. */
  conditions: ConditionNote[];
  polls: number;
  /** Why it is not healthy, when it is not. */
  reason?: string;
}

/**
 * Reads the deployment until it is complete on the target and its probe passes, or until `until` (or the
 * abort signal); a failed rollout (ProgressDeadlineExceeded after the rollback) ends it at once.
 */
export async function followDeployment(ctx: RunbookContext, options: FollowOptions): Promise<FollowResult> {
  const sleep = ctx.sleep ?? realSleep;
  const seen = conditionsSeen(options.before);
  const conditions: ConditionNote[] = [];
  let polls = 0;
  let completeAt: Date | undefined;
  let lastReason = "not yet complete";
  while (ctx.now().getTime() < options.until.getTime() && !ctx.signal?.aborted) {
    polls++;
    const completion = await poll(ctx, options, { seen, conditions });
    if (completion.kind === "failed") return { healthy: false, conditions, polls, reason: completion.reason };
    if (completion.kind === "complete") {
      completeAt ??= ctx.now();
      const failing = await probeFailure(options, completion);
      if (!failing) return { healthy: true, completeAt, healthyAt: ctx.now(), conditions, polls };
      lastReason = failing;
    } else {
      lastReason = completion.reason;
    }
    await sleep(options.pollMs, ctx.signal);
  }
  // One decimal: `until` may be cut short of whole minutes (the run's deadline, the token's expiry).
  const minutes = Number(((options.until.getTime() - options.issuedAt.getTime()) / 60_000).toFixed(1));
  const why = ctx.signal?.aborted ? "stopped before the deadline" : `not healthy within ${minutes} min`;
  return { healthy: false, ...(completeAt ? { completeAt } : {}), conditions, polls, reason: `${why}: ${lastReason}` };
}

/**
 * One read, its changed conditions collected. A read that fails (a 500, a timeout) is waited past, not
 * fatal: the rollback is sent, and the next read may well answer.
 */
async function poll(
  ctx: RunbookContext,
  options: FollowOptions,
  log: { seen: Map<string, string>; conditions: ConditionNote[] },
): Promise<Completion> {
  let read: DeploymentRead;
  try {
    read = await bounded(options.read, { timeoutMs: options.readTimeoutMs ?? READ_TIMEOUT_MS, signal: ctx.signal });
  } catch (error) {
    return { kind: "waiting", reason: `could not read the deployment: ${errorMessage(error)}` };
  }
  log.conditions.push(...changedConditions(log.seen, read.deployment, ctx.now()));
  return completeOn(read, options.target);
}

/**
 * Why the health probe of a complete deployment fails; undefined when it passes or there is none. Scaled to
 * 0 meanwhile (off-hours), nothing serves: there is nothing for the probe to pass, and it is not asked.
 */
async function probeFailure(
  options: FollowOptions,
  completion: Extract<Completion, { kind: "complete" }>,
): Promise<string | undefined> {
  const sample = options.probe && !completion.scaledToZero ? await options.probe() : undefined;
  if (!sample || sample.ok) return undefined;
  return `complete, but the health probe fails: ${sample.detail}`;
}

/** A read raced against a timeout and the run's abort signal: whichever comes first ends the wait. */
async function bounded<T>(
  read: () => Promise<T>,
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<T> {
  const { timeoutMs, signal } = options;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    onAbort = () => reject(new Error("stopped: the run was aborted"));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([read(), stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
