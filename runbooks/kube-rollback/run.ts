import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import { errorMessage } from "../../lib/errors.js";
import { endpointsOf } from "../../lib/health/endpoints.js";
import { isKubeConflict, type KubeApi } from "../../lib/kube/client.js";
import { replicaSetSelector, rolloutActivity } from "../../lib/kube/rollout.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import { markKnownGood, type ProbeFailure, rollBack, rollbackInput } from "./apply.js";
import { decideRollback, type RollbackDecision } from "./plan.js";

/**
 * Writes that lost a race (HTTP 409 on a stale `resourceVersion`) before the deployment is reported
 * failed: each is followed by a fresh read and a new decision, as off-hours scaling does
 * (`runbooks/scaling/run.ts`, `CONFLICT_ATTEMPTS`).
 */
export const CONFLICT_ATTEMPTS = 5;

/** Connects to the system's cluster (endpoint and CA from eks:DescribeCluster, a token from the role). */
export async function connectCluster(ctx: RunbookContext, cluster: string): Promise<KubeApi> {
  // Loaded on use: @kubernetes/client-node takes ~1 s to import, and every function loads the registry.
  const { connectEks } = await import("../../lib/kube/eks.js");
  const connection = await connectEks({
    eks: ctx.clients.eks,
    cluster,
    region: ctx.system.account.region,
    now: ctx.now(),
  });
  return connection.api;
}

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
export async function checkDeployment(options: CheckOptions): Promise<RollbackDecision | undefined> {
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
    return decided?.decision;
  } catch (error) {
    report.add({
      resource,
      action: decided?.decision.kind ?? "kube-rollback",
      status: "failed",
      reason: `${errorMessage(error)}; the next check decides again`,
    });
    return decided?.decision;
  }
}

/** A decision and what carrying it out needs from the read it was made on. */
interface Decided {
  decision: RollbackDecision;
  deployment: V1Deployment;
  previousSet?: V1ReplicaSet | undefined;
  rolledBackFrom: readonly string[];
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
