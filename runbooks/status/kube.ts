import type { V1Deployment } from "@kubernetes/client-node";
import { clusterName, eksClusterArn, type KubernetesAccess, kubernetesAccessEntry } from "../../lib/iam.js";
import type { System } from "../../systems/schema.js";
import { ROLLBACK_MARKS } from "../kube-rollback/apply.js";
import { connectCluster } from "../kube-rollback/run.js";
import { parseLastRollback } from "../rollback/tags.js";
import { KUBE_MARKS, readRecord } from "../scaling/tags.js";
import type { Permission, RunbookContext } from "../types.js";
import type { ServiceNow } from "./plan.js";

/** What status needs on an EKS system's cluster: its endpoint and CA (eks:DescribeCluster). */
export function kubeStatusPermissions(system: System): Permission[] {
  if (system.runtime.kind !== "eks") return [];
  return [
    { actions: ["eks:DescribeCluster"], resources: [eksClusterArn(system, clusterName(system.runtime.cluster))] },
  ];
}

/** A view-only, namespace-scoped access entry: status lists the namespace's deployments, nothing more. */
export function kubeStatusAccess(system: System): KubernetesAccess[] {
  if (system.runtime.kind !== "eks") return [];
  return [
    kubernetesAccessEntry(system, {
      cluster: clusterName(system.runtime.cluster),
      namespace: system.runtime.namespace,
      policy: "AmazonEKSViewPolicy",
      rules: [{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["list"] }],
    }),
  ];
}

/**
 * One deployment as status shows it: replicas asked for and ready, the off-hours record scale-down left
 * in its annotations, and the last rollback kube-rollback recorded there (`v1 from= to= at=`; a rollback
 * annotation names no trigger, so it reads as `unknown`).
 */
export function deploymentNow(deployment: V1Deployment): ServiceNow {
  const annotations = new Map(Object.entries(deployment.metadata?.annotations ?? {}));
  const record = readRecord(annotations, KUBE_MARKS);
  const lastRollback = parseLastRollback(annotations.get(ROLLBACK_MARKS.lastRollback));
  return {
    name: deployment.metadata?.name ?? "?",
    desired: deployment.spec?.replicas ?? 1,
    running: deployment.status?.readyReplicas ?? 0,
    offHours: record.kind === "invalid" ? { kind: "invalid", reason: record.error.message } : record,
    ...(lastRollback ? { lastRollback } : {}),
  };
}

/** The catalogue's deployments of an EKS system, read with one list of its namespace. */
export async function kubeCapacity(ctx: RunbookContext): Promise<ServiceNow[]> {
  const { runtime } = ctx.system;
  if (runtime.kind !== "eks") throw new Error(`not an EKS system (${runtime.kind})`);
  const api = await connectCluster(ctx, clusterName(runtime.cluster));
  const listed = new Map((await api.listDeployments(runtime.namespace)).map((d) => [d.metadata?.name, d]));
  const names = runtime.deployments.map((d) => d.name);
  const missing = names.filter((n) => !listed.has(n));
  if (missing.length > 0) throw new Error(`namespace ${runtime.namespace} has no deployment ${missing.join(", ")}`);
  return names.flatMap((name) => {
    const deployment = listed.get(name);
    return deployment ? [deploymentNow(deployment)] : [];
  });
}
