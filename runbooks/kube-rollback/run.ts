import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import { errorMessage } from "../../lib/errors.js";
import { endpointsOf } from "../../lib/health/endpoints.js";
import { probeEndpoint } from "../../lib/health/probe.js";
import { isKubeConflict, type KubeApi } from "../../lib/kube/client.js";
import { replicaSetSelector, rolloutActivity } from "../../lib/kube/rollout.js";
import { plural } from "../../lib/text.js";
import type { ReportBuilder } from "../report.js";
import { FOLLOW_POLL_MS } from "../rollback/run.js";
import type { RunbookContext } from "../types.js";
import { markKnownGood, type ProbeFailure, rollBack, rollbackInput } from "./apply.js";
import { type ConditionNote, type FollowResult, followDeployment, READ_TIMEOUT_MS } from "./follow.js";
import { decideRollback, type Revision, type RollbackDecision } from "./plan.js";

/**
 * Writes that lost a race (HTTP 409 on a stale `resourceVersion`) before the deployment is reported
 * failed: each is followed by a fresh read and a new decision, as off-hours scaling does
 * (`runbooks/scaling/run.ts`, `CONFLICT_ATTEMPTS`).
 */
export const CONFLICT_ATTEMPTS = 5;

/** Connects to the system's cluster (endpoint and CA from eks:DescribeCluster, a token from the role). */
export async function connectCluster(ctx: RunbookContext, cluster: string): Promise<KubeApi> {
  return (await connectClusterUntil(ctx, cluster)).api;
}

/** {@link connectCluster}, with the instant its token must no longer be sent (signed now, 14 min). */
export async function connectClusterUntil(
  ctx: RunbookContext,
  cluster: string,
): Promise<{ api: KubeApi; tokenExpiresAt: Date }> {
  // Loaded on use: @kubernetes/client-node takes ~1 s to import, and every function loads the registry.
  const { connectEks } = await import("../../lib/kube/eks.js");
  const connection = await connectEks({
    eks: ctx.clients.eks,
    cluster,
    region: ctx.system.account.region,
    now: ctx.now(),
  });
  return { api: connection.api, tokenExpiresAt: connection.tokenExpiresAt };
}

/**
 * The follow stops this long before the cluster token's expiry: its last read (up to {@link READ_TIMEOUT_MS})
 * must still go out on a token the cluster accepts.
 */
export const TOKEN_MARGIN_MS = 30_000;

/** A deployment and the replicasets of its namespace (or those its selector matches), as read together. */
export interface DeploymentRead {
  deployment: V1Deployment;
  replicaSets: readonly V1ReplicaSet[];
}

/** Reads one deployment and its replicasets afresh (after a 409). */
export async function readFresh(api: KubeApi, namespace: string, name: string): Promise<DeploymentRead> {
  const deployment = await api.readDeployment(namespace, name);
  const replicaSets = await api.listReplicaSets(namespace, replicaSetSelector(deployment));
  return { deployment, replicaSets };
}

/** Runs `write` over the read; on a 409, reads again and hands the fresh read to `write`, up to {@link CONFLICT_ATTEMPTS}. */
export async function onFreshReads<T>(options: {
  api: KubeApi;
  namespace: string;
  name: string;
  read: DeploymentRead;
  write: (read: DeploymentRead, attempt: number) => Promise<T>;
  onConflict?: (attempt: number, error: unknown) => void;
}): Promise<T> {
  let read = options.read;
  for (let attempt = 1; ; attempt++) {
    try {
      return await options.write(read, attempt);
    } catch (error) {
      if (!isKubeConflict(error) || attempt >= CONFLICT_ATTEMPTS) throw error;
      options.onConflict?.(attempt, error);
      read = await readFresh(options.api, options.namespace, options.name);
    }
  }
}

/** Options of {@link checkDeployment}. */
export interface CheckOptions {
  ctx: RunbookContext;
  report: ReportBuilder;
  api: KubeApi;
  namespace: string;
  /** `eks/<cluster>/<namespace>/<name>`. */
  resource: string;
  read: DeploymentRead;
  cooldownMinutes: number;
  /** The health probe's trigger; absent: ProgressDeadlineExceeded is looked for. */
  probe?: ProbeFailure;
}

/**
 * Decides for one deployment and carries the decision out — mark known-good, escalate, or roll back to the
 * previous revision's pod template — as one action on the report. A 409 is retried on a fresh read with a
 * new decision (the deployment may have moved on: another rollout, a rollback by someone else); nothing here
 * throws.
 */
export async function checkDeployment(options: CheckOptions): Promise<CheckOutcome> {
  const { ctx, report, resource } = options;
  let decided: Decided | undefined;
  try {
    await onFreshReads({
      api: options.api,
      namespace: options.namespace,
      name: options.read.deployment.metadata?.name ?? "",
      read: options.read,
      onConflict: (attempt, error) =>
        ctx.logger.info("write conflict; reading again", { resource, attempt, error: errorMessage(error) }),
      write: async (read, attempt) => {
        decided = decide(options, read);
        await carryOut(options, decided, attempt);
      },
    });
    return outcomeOf(options, decided);
  } catch (error) {
    report.add({
      resource,
      action: decided?.decision.kind ?? "kube-rollback",
      status: "failed",
      reason: `${errorMessage(error)}; the next check decides again`,
    });
    return decided ? { decision: decided.decision } : {};
  }
}

/** A rollback write the API server accepted: what following it needs. */
export interface IssuedRollback {
  resource: string;
  /** The deployment as read just before the write (its conditions are where "what changed" starts). */
  deployment: V1Deployment;
  from: Revision;
  to: Revision;
  at: Date;
}

/** What {@link checkDeployment} decided, and the rollback it sent, if it sent one. */
export interface CheckOutcome {
  decision?: RollbackDecision;
  issued?: IssuedRollback;
}

function outcomeOf(options: CheckOptions, decided: Decided | undefined): CheckOutcome {
  if (!decided) return {};
  const { decision, deployment, issuedAt } = decided;
  if (decision.kind !== "rollback" || !issuedAt) return { decision };
  return {
    decision,
    issued: { resource: options.resource, deployment, from: decision.from, to: decision.to, at: issuedAt },
  };
}

/** A decision and what carrying it out needs from the read it was made on. */
interface Decided {
  decision: RollbackDecision;
  deployment: V1Deployment;
  previousSet?: V1ReplicaSet | undefined;
  rolledBackFrom: readonly string[];
  /** When the rollback write was accepted. */
  issuedAt?: Date;
}

function decide(options: CheckOptions, read: DeploymentRead): Decided {
  const { ctx } = options;
  const name = read.deployment.metadata?.name ?? "";
  const activity = rolloutActivity(read.deployment, read.replicaSets);
  const probeable = endpointsOf(ctx.system, name).length > 0;
  const { input, previousSet } = rollbackInput({
    deployment: read.deployment,
    replicaSets: read.replicaSets,
    inProgress: activity.inProgress,
    lastDeployedAt: activity.lastDeployedAt,
    cooldownMinutes: options.cooldownMinutes,
    followMinutes: ctx.system.rollback.followMinutes,
    windowMinutes: ctx.system.rollback.windowMinutes,
    ...(probeable ? { bakeMinutes: ctx.system.rollback.bakeMinutes } : {}),
    ...(options.probe ? { probe: options.probe } : {}),
    now: ctx.now(),
    dryRun: ctx.dryRun,
  });
  return {
    decision: decideRollback(input),
    deployment: read.deployment,
    previousSet,
    rolledBackFrom: input.rolledBackFrom,
  };
}

const afterConflicts = (attempt: number) =>
  attempt > 1 ? ` (after ${attempt - 1} conflicting ${attempt === 2 ? "write" : "writes"}, read again)` : "";

async function carryOut(options: CheckOptions, decided: Decided, attempt: number): Promise<void> {
  const { ctx, report, resource, api, namespace } = options;
  const { decision, deployment } = decided;
  const retried = afterConflicts(attempt);
  if (decision.kind === "none") {
    report.add({ resource, action: "kube-rollback", status: "skipped", reason: `${decision.reason}${retried}` });
  } else if (decision.kind === "escalate") {
    report.add({ resource, action: "escalate", status: "failed", reason: `not rolled back: ${decision.reason}` });
    // The router pages on one escalation per report (as for the ECS rollback): the first deployment's.
    report.details.escalation ??= { severity: "critical", reason: `${resource}: ${decision.reason}` };
  } else if (decision.kind === "mark-good") {
    if (!ctx.dryRun) await markKnownGood({ api, namespace, deployment, hash: decision.hash });
    const verb = ctx.dryRun ? "would " : "";
    report.add({
      resource,
      action: "mark-known-good",
      status: report.changeStatus,
      reason: `${verb}record ${decision.reason}${retried}`,
    });
  } else {
    await rollBackTo(options, decided, decision);
    if (decision.send) decided.issuedAt = ctx.now();
    report.add({
      resource,
      action: "rollback",
      status: decision.send ? "done" : "would-do",
      reason: `${decision.send ? "" : "would "}roll back: ${decision.reason}${retried}`,
      before: { revision: decision.from.revision, template: decision.from.hash },
      after: { template: decision.to.hash },
    });
  }
}

async function rollBackTo(
  options: CheckOptions,
  decided: Decided,
  decision: Extract<RollbackDecision, { kind: "rollback" }>,
): Promise<void> {
  if (!decided.previousSet) throw new Error(`the replicaset of revision ${decision.to.revision} is gone`);
  if (!decision.send) return;
  await rollBack({
    api: options.api,
    namespace: options.namespace,
    deployment: decided.deployment,
    to: decided.previousSet,
    from: decision.from,
    toRevision: decision.to,
    rolledBackFrom: decided.rolledBackFrom,
    now: options.ctx.now(),
  });
}

/** Options of {@link followRollback}. */
export interface FollowStep {
  ctx: RunbookContext;
  report: ReportBuilder;
  api: KubeApi;
  namespace: string;
  issued: IssuedRollback;
  /** When the connection's token must no longer be sent: the follow ends {@link TOKEN_MARGIN_MS} before. */
  tokenExpiresAt?: Date | undefined;
}

/** A followed rollback, as the report's `details.follows[]` carries it. */
export interface FollowedRollback {
  resource: string;
  healthy: boolean;
  from: Revision;
  /** The template rolled back to (the revision number is the one before the rollback renumbered it). */
  to: Revision;
  issuedAt: string;
  completeAt?: string;
  healthyAt?: string;
  issuedToHealthyMs?: number;
  polls: number;
  reason?: string;
  conditions: ConditionNote[];
}

/**
 * Follows one accepted rollback until the deployment is complete on the target and its health endpoint (the
 * catalogue's, when it gives a `baseUrl`) passes, for `rollback.followMinutes` or until the run's deadline;
 * adds one `follow` action: done when healthy, failed with the reason otherwise.
 */
export async function followRollback(step: FollowStep): Promise<FollowedRollback> {
  const { ctx, issued } = step;
  const name = issued.deployment.metadata?.name ?? "";
  const endpoint = endpointsOf(ctx.system, name)[0];
  const result = await followDeployment(ctx, {
    read: () => readFresh(step.api, step.namespace, name),
    target: { hash: issued.to.hash },
    issuedAt: issued.at,
    until: followUntil(step),
    pollMs: FOLLOW_POLL_MS,
    before: issued.deployment,
    probe: endpoint
      ? () =>
          probeEndpoint({
            url: endpoint.url,
            timeoutMs: endpoint.thresholds.timeoutSeconds * 1000,
            now: ctx.now,
            signal: ctx.signal,
          })
      : undefined,
  });
  const target = `revision ${issued.to.revision}'s template ${issued.to.hash}`;
  step.report.add({
    resource: issued.resource,
    action: "follow",
    status: result.healthy ? "done" : "failed",
    reason: result.healthy
      ? `complete on ${target}${endpoint ? ` and ${endpoint.url} passes` : " (no probe-able health endpoint)"} after ${plural(result.polls, "poll")}`
      : `not healthy after the rollback to ${target}: ${result.reason ?? "unknown"}`,
  });
  return followedOf(issued, result);
}

/**
 * The earliest of: `rollback.followMinutes` after the write, the run's deadline, and the token's expiry less
 * {@link TOKEN_MARGIN_MS} (one token per run, no reconnect: past it every read would be a 401).
 */
function followUntil(step: FollowStep): Date {
  const { ctx, issued } = step;
  const limits = [issued.at.getTime() + ctx.system.rollback.followMinutes * 60_000];
  if (ctx.deadline) limits.push(ctx.deadline.getTime());
  if (step.tokenExpiresAt) limits.push(step.tokenExpiresAt.getTime() - TOKEN_MARGIN_MS);
  return new Date(Math.min(...limits));
}

function followedOf(issued: IssuedRollback, result: FollowResult): FollowedRollback {
  return {
    resource: issued.resource,
    healthy: result.healthy,
    from: issued.from,
    to: issued.to,
    issuedAt: issued.at.toISOString(),
    ...(result.completeAt ? { completeAt: result.completeAt.toISOString() } : {}),
    ...(result.healthyAt
      ? {
          healthyAt: result.healthyAt.toISOString(),
          issuedToHealthyMs: result.healthyAt.getTime() - issued.at.getTime(),
        }
      : {}),
    polls: result.polls,
    ...(result.reason ? { reason: result.reason } : {}),
    conditions: result.conditions,
  };
}
