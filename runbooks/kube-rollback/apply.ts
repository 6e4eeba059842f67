import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import type { KubeApi } from "../../lib/kube/client.js";
import { currentReplicaSet, REVISION_ANNOTATION } from "../../lib/kube/rollout.js";
import { isoSeconds, parseInstant } from "../scaling/tags.js";
import { mergePatchBetween, type Revision, type RollbackInput } from "./plan.js";

/** The annotations the rollback keeps on each deployment (state lives on the resource). */
export const ROLLBACK_MARKS = {
  /** `pod-template-hash` of the last revision seen healthy. */
  knownGood: "ops-autopilot/known-good-template",
  /** Comma-separated hashes rolled back from (the newest 10). */
  rolledBackFrom: "ops-autopilot/rolled-back-from",
  /** `v1 from=<hash> to=<hash> at=<ISO instant>`. */
  lastRollback: "ops-autopilot/last-rollback",
} as const;

const HASH_LABEL = "pod-template-hash";

const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value ?? null)) as T;

function revisionOf(rs: V1ReplicaSet): Revision | undefined {
  const hash = rs.metadata?.labels?.[HASH_LABEL];
  const revision = Number(rs.metadata?.annotations?.[REVISION_ANNOTATION]);
  return hash && Number.isInteger(revision) ? { hash, revision } : undefined;
}

/** The replicasets a deployment owns, newest revision first. */
function owned(deployment: V1Deployment, replicaSets: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  const uid = deployment.metadata?.uid;
  return replicaSets
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller !== false))
    .sort((a, b) => (revisionOf(b)?.revision ?? 0) - (revisionOf(a)?.revision ?? 0));
}

/** Reads what the guards need from a deployment and its replicasets. */
export function rollbackInput(options: {
  deployment: V1Deployment;
  replicaSets: readonly V1ReplicaSet[];
  inProgress: string | undefined;
  cooldownMinutes: number;
  now: Date;
}): { input: RollbackInput; previousSet?: V1ReplicaSet } {
  const { deployment } = options;
  const annotations = deployment.metadata?.annotations ?? {};
  const currentSet = currentReplicaSet(deployment, options.replicaSets);
  const current = currentSet ? revisionOf(currentSet) : undefined;
  const previousSet = owned(deployment, options.replicaSets).find(
    (rs) => current && (revisionOf(rs)?.revision ?? 0) < current.revision,
  );
  const progressing = deployment.status?.conditions?.find((c) => c.type === "Progressing");
  const failure =
    progressing?.status === "False" && progressing.reason === "ProgressDeadlineExceeded"
      ? `rollout failed (ProgressDeadlineExceeded: ${progressing.message ?? "no message"})`
      : undefined;
  const last = /\bat=(\S+)/.exec(annotations[ROLLBACK_MARKS.lastRollback] ?? "")?.[1];
  const input: RollbackInput = {
    failure,
    healthy: !failure && options.inProgress === undefined,
    current,
    previous: previousSet ? revisionOf(previousSet) : undefined,
    knownGood: annotations[ROLLBACK_MARKS.knownGood],
    rolledBackFrom: (annotations[ROLLBACK_MARKS.rolledBackFrom] ?? "").split(",").filter(Boolean),
    lastRollbackAt: last ? parseInstant(last) : undefined,
    cooldownMinutes: options.cooldownMinutes,
    now: options.now,
  };
  return previousSet ? { input, previousSet } : { input };
}

/**
 * Rolls back what `kubectl rollout undo` does, through the API: the deployment's pod template becomes the
 * earlier replicaset's (without its `pod-template-hash` label, which the controller adds), as one merge
 * patch guarded by the resourceVersion read, with the guards' state in the same write.
 */
export async function rollBack(options: {
  api: KubeApi;
  namespace: string;
  deployment: V1Deployment;
  to: V1ReplicaSet;
  from: Revision;
  toRevision: Revision;
  rolledBackFrom: readonly string[];
  now: Date;
}): Promise<void> {
  const { deployment } = options;
  const template = plain(options.to.spec?.template) ?? {};
  const labels = { ...(template.metadata?.labels ?? {}) };
  delete labels[HASH_LABEL];
  template.metadata = { ...template.metadata, labels };
  const history = [...options.rolledBackFrom.filter((h) => h !== options.from.hash), options.from.hash].slice(-10);
  await options.api.patchDeployment({
    namespace: options.namespace,
    name: deployment.metadata?.name ?? "",
    resourceVersion: deployment.metadata?.resourceVersion ?? "",
    patch: {
      metadata: {
        annotations: {
          [ROLLBACK_MARKS.rolledBackFrom]: history.join(","),
          [ROLLBACK_MARKS.lastRollback]: `v1 from=${options.from.hash} to=${options.toRevision.hash} at=${isoSeconds(options.now)}`,
        },
      },
      spec: { template: mergePatchBetween(plain(deployment.spec?.template), template) },
    },
  });
}

/** Records the current revision as known-good. */
export async function markKnownGood(options: {
  api: KubeApi;
  namespace: string;
  deployment: V1Deployment;
  hash: string;
}): Promise<void> {
  await options.api.patchDeploymentAnnotations({
    namespace: options.namespace,
    name: options.deployment.metadata?.name ?? "",
    resourceVersion: options.deployment.metadata?.resourceVersion ?? "",
    annotations: { [ROLLBACK_MARKS.knownGood]: options.hash },
  });
}
