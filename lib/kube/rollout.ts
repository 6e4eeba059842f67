import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";

/** The annotation the deployment controller numbers rollouts with, on the deployment and its replicasets. */
export const REVISION_ANNOTATION = "deployment.kubernetes.io/revision";

/** A deployment's rollout as scaling needs it (the shape of `DeploymentActivity`). */
export interface RolloutActivity {
  /** Why the rollout is not finished (or has failed), when it is not. */
  inProgress?: string;
  /** When the current revision's pod template was first rolled out. */
  lastDeployedAt?: Date;
}

/**
 * Reads a deployment's rollout the way `kubectl rollout status` does, in its order: the controller has not
 * yet observed the latest spec; the Progressing condition says ProgressDeadlineExceeded (a failed rollout:
 * left to a person or to the rollback); fewer updated replicas than wanted; old replicas still terminating;
 * updated replicas not yet available. "When it last changed" is the creation time of the replicaset of the
 * current revision — a scale does not create one, a new pod template does — or the deployment's own.
 */
export function rolloutActivity(deployment: V1Deployment, replicaSets: readonly V1ReplicaSet[]): RolloutActivity {
  const activity: RolloutActivity = {};
  const lastDeployedAt = currentReplicaSet(deployment, replicaSets)?.metadata?.creationTimestamp;
  const created = deployment.metadata?.creationTimestamp;
  const when = lastDeployedAt ?? created;
  if (when) activity.lastDeployedAt = new Date(when);
  const inProgress = rolloutProblem(deployment);
  if (inProgress) activity.inProgress = inProgress;
  return activity;
}

function rolloutProblem(deployment: V1Deployment): string | undefined {
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  const observed = status.observedGeneration ?? 0;
  if (generation > observed) {
    return `the controller has not observed generation ${generation} yet (observed ${observed})`;
  }
  const progressing = status.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.reason === "ProgressDeadlineExceeded") {
    return `rollout failed (Progressing=False, ProgressDeadlineExceeded: ${progressing.message ?? "no message"})`;
  }
  const wanted = deployment.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < wanted) return `${updated} of ${wanted} new replicas updated`;
  if (total > updated)
    return `${total - updated} old ${total - updated === 1 ? "replica" : "replicas"} pending termination`;
  if (available < updated) return `${available} of ${updated} updated replicas available`;
  return undefined;
}

/** The replicaset the deployment owns whose revision is the deployment's current one. */
export function currentReplicaSet(
  deployment: V1Deployment,
  replicaSets: readonly V1ReplicaSet[],
): V1ReplicaSet | undefined {
  const uid = deployment.metadata?.uid;
  const revision = deployment.metadata?.annotations?.[REVISION_ANNOTATION];
  if (!uid || revision === undefined) return undefined;
  return replicaSets.find(
    (rs) =>
      rs.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller !== false) &&
      rs.metadata?.annotations?.[REVISION_ANNOTATION] === revision,
  );
}

/**
 * `app=api,tier=web`: the equality selector of a deployment's `matchLabels`, to list only its replicasets on
 * a fresh read; undefined when it has expressions (list the namespace's and filter by owner instead).
 */
export function replicaSetSelector(deployment: V1Deployment): string | undefined {
  const selector = deployment.spec?.selector;
  if (!selector?.matchLabels || (selector.matchExpressions?.length ?? 0) > 0) return undefined;
  const pairs = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(",") : undefined;
}
