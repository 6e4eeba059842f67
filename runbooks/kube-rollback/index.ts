import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { clusterName, eksClusterArn, type KubernetesAccess, kubernetesAccessEntry } from "../../lib/iam.js";
import type { KubeApi } from "../../lib/kube/client.js";
import type { System } from "../../systems/schema.js";
import { wholeNumber } from "../inputs.js";
import { ReportBuilder } from "../report.js";
import type { Runbook } from "../types.js";
import { checkDeployment, connectCluster } from "./run.js";

const input = z.strictObject({
  /** Only this deployment (one of the catalogue's). */
  deployment: z.string().min(1).optional(),
  /** No second automatic rollback of a deployment within this many minutes (default: the catalogue's `rollback.cooldownMinutes`). */
  cooldownMinutes: wholeNumber(1, 1440).optional(),
});

/** The access entry's data: the namespace's deployments (read, fresh read after a 409, patch) and replicasets (list). */
export function kubeRollbackAccess(system: System): KubernetesAccess[] {
  if (system.runtime.kind !== "eks") return [];
  return [
    kubernetesAccessEntry(system, {
      cluster: clusterName(system.runtime.cluster),
      namespace: system.runtime.namespace,
      policy: "AmazonEKSEditPolicy",
      rules: [
        // get: the fresh read after a 409.
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "patch"] },
        { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["list"] },
      ],
    }),
  ];
}

/**
 * Rollback on a failed rollout (Kubernetes): a deployment whose `Progressing` condition is False with
 * ProgressDeadlineExceeded goes back to the previous revision's pod template — what `kubectl rollout undo`
 * does — unless a guard (`plan.ts`) says to escalate instead. A healthy deployment's revision is remembered
 * as known-good. Meant to run every 2 minutes; idempotent (a second run sees the rollout in progress).
 */
export const kubeRollbackRunbook: Runbook<typeof input> = {
  name: "kube-rollback",
  description: "EKS: roll a deployment whose rollout failed (ProgressDeadlineExceeded) back to its previous revision",
  destructive: true,
  input,
  timeoutSeconds: 60,
  permissions: (system) =>
    system.runtime.kind === "eks"
      ? [{ actions: ["eks:DescribeCluster"], resources: [eksClusterArn(system, clusterName(system.runtime.cluster))] }]
      : [],
  kubernetesAccess: kubeRollbackAccess,
  async run(ctx, options) {
    const report = new ReportBuilder(ctx, "kube-rollback");
    const { system } = ctx;
    const { runtime } = system;
    if (runtime.kind !== "eks") {
      report.add({ resource: system.id, action: "kube-rollback", status: "skipped", reason: "not an EKS system" });
      return report.finish({ summary: `skipped: ${system.id} does not run on EKS` });
    }
    const cluster = clusterName(runtime.cluster);
    const { namespace } = runtime;
    const known = runtime.deployments.map((d) => d.name);
    const resource = (name: string) => `eks/${cluster}/${namespace}/${name}`;
    if (options.deployment && !known.includes(options.deployment)) {
      report.add({
        resource: resource(options.deployment),
        action: "kube-rollback",
        status: "failed",
        reason: `"${options.deployment}" is not a deployment of ${system.id} (known: ${known.join(", ")})`,
      });
      return report.finish({ summary: "nothing checked: unknown deployment" });
    }
    const names = options.deployment ? [options.deployment] : known;
    let api: KubeApi;
    let deployments: Awaited<ReturnType<KubeApi["listDeployments"]>>;
    let replicaSets: Awaited<ReturnType<KubeApi["listReplicaSets"]>>;
    try {
      api = await connectCluster(ctx, cluster);
      [deployments, replicaSets] = await Promise.all([api.listDeployments(namespace), api.listReplicaSets(namespace)]);
    } catch (error) {
      for (const name of names) {
        report.add({
          resource: resource(name),
          action: "kube-rollback",
          status: "failed",
          reason: errorMessage(error),
        });
      }
      return report.finish({ summary: `could not read the cluster: ${errorMessage(error)}` });
    }
    for (const name of names) {
      const deployment = deployments.find((d) => d.metadata?.name === name);
      if (!deployment) {
        report.add({ resource: resource(name), action: "kube-rollback", status: "failed", reason: "not found" });
        continue;
      }
      await checkDeployment({
        ctx,
        report,
        api,
        namespace,
        resource: resource(name),
        read: { deployment, replicaSets },
        cooldownMinutes: options.cooldownMinutes ?? system.rollback.cooldownMinutes,
      });
    }
    const rolled = report.actions.filter((a) => a.action === "rollback" && a.status !== "failed");
    const escalated = report.actions.filter((a) => a.action === "escalate");
    report.metric("rollbacks", rolled.length);
    report.metric("escalations", escalated.length);
    const parts = [
      rolled.length > 0
        ? `${ctx.dryRun ? "would roll back" : "rolled back"} ${rolled.map((a) => a.resource.split("/").pop()).join(", ")}`
        : "no rollback",
    ];
    if (escalated.length > 0) parts.push(`escalated ${escalated.map((a) => a.resource.split("/").pop()).join(", ")}`);
    return report.finish({ summary: parts.join("; ") });
  },
};
