import type { EKSClient } from "@aws-sdk/client-eks";
import type { V1Deployment, V1PodTemplateSpec, V1ReplicaSet } from "@kubernetes/client-node";
import { REVISION_ANNOTATION } from "../../lib/kube/rollout.js";
import type { ImageReference } from "./plan.js";
import { InUseReadError, parseImageUri } from "./read.js";

/** Where the system's workloads run on EKS. */
export interface ClusterScope {
  eks: EKSClient;
  cluster: string;
  namespace: string;
  region: string;
  now: Date;
}

function imagesOf(template: V1PodTemplateSpec | undefined): string[] {
  const spec = template?.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].flatMap((c) => (c.image ? [c.image] : []));
}

/**
 * Every image the system's namespace uses or may roll back to: each deployment's pod template, and the
 * template of every replicaset it keeps (its revision history is what `kubectl rollout undo` goes back
 * to). A cluster that cannot be read throws {@link InUseReadError}: then nothing is deleted.
 */
export async function readClusterImages(
  scope: ClusterScope,
): Promise<{ references: ImageReference[]; workloads: number }> {
  // Loaded only for EKS: @kubernetes/client-node takes ~1 s to import.
  const { connectEks } = await import("../../lib/kube/eks.js");
  const where = `EKS ${scope.cluster}/${scope.namespace}`;
  let deployments: V1Deployment[];
  let replicaSets: V1ReplicaSet[];
  try {
    const { api } = await connectEks({ eks: scope.eks, cluster: scope.cluster, region: scope.region, now: scope.now });
    [deployments, replicaSets] = await Promise.all([
      api.listDeployments(scope.namespace),
      api.listReplicaSets(scope.namespace),
    ]);
  } catch (error) {
    throw new InUseReadError(`${where} deployments and replicasets`, error);
  }
  const references: ImageReference[] = [];
  const refer = (uri: string, source: string) => {
    const parsed = parseImageUri(uri);
    if (parsed) references.push({ ...parsed, source });
  };
  for (const d of deployments) {
    for (const image of imagesOf(d.spec?.template)) refer(image, `deployment ${d.metadata?.name ?? "?"} in ${where}`);
  }
  for (const rs of replicaSets) {
    const revision = rs.metadata?.annotations?.[REVISION_ANNOTATION];
    const owner = rs.metadata?.ownerReferences?.find((o) => o.kind === "Deployment")?.name ?? rs.metadata?.name;
    for (const image of imagesOf(rs.spec?.template)) {
      refer(
        image,
        `revision ${revision ?? "?"} of ${owner ?? "?"} (replicaset ${rs.metadata?.name ?? "?"}) in ${where}`,
      );
    }
  }
  return { references, workloads: deployments.length };
}
