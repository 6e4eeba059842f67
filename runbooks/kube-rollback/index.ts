import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { clusterName, eksClusterArn, type KubernetesAccess, kubernetesAccessEntry } from "../../lib/iam.js";
import type { KubeApi } from "../../lib/kube/client.js";
import type { System } from "../../systems/schema.js";
import { wholeNumber } from "../inputs.js";
import { ReportBuilder } from "../report.js";
import type { Report, Runbook, RunbookContext } from "../types.js";
import {
  checkDeployment,
  connectClusterUntil,
  type FollowedRollback,
  followRollback,
  type IssuedRollback,
} from "./run.js";

const input = z.strictObject({
  /** Only this deployment (one of the catalogue's). */
  deployment: z.string().min(1).optional(),
  /** No second automatic rollback of a deployment within this many minutes (default: the catalogue's `rollback.cooldownMinutes`). */
  cooldownMinutes: wholeNumber(1, 1440).optional(),
});

/**
 * The access entry's data: the namespace's deployments (read, fresh read after a 409 and while following, patch)
 * and replicasets (list).
 */
export function kubeRollbackAccess(system: System): KubernetesAccess[] {
  if (system.runtime.kind !== "eks") return [];
  return [
    kubernetesAccessEntry(system, {
      cluster: clusterName(system.runtime.cluster),
      namespace: system.runtime.namespace,
      policy: "AmazonEKSEditPolicy",
      rules: [
        // get: the fresh read after a 409, and each read while following a rollback.
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
 * as known-good. A rollback is followed until the deployment is complete on that revision and its health
 * probe passes (`follow.ts`). Meant to run every 2 minutes; idempotent (a second run sees the rollout in
 * progress).
 */
export const kubeRollbackRunbook: Runbook<typeof input> = {
  name: "kube-rollback",
  description:
    "EKS: roll a deployment whose rollout failed (ProgressDeadlineExceeded) back to its previous revision, followed until complete and healthy",
  destructive: true,
  input,
  // A rollback is followed for up to `rollback.followMinutes` (at most 14): the run's deadline and the
  // cluster token's expiry (14 min after connecting, less a margin) bound it.
  timeoutSeconds: 900,
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
    const issued: IssuedRollback[] = [];
    let api: KubeApi;
    let tokenExpiresAt: Date;
    let deployments: Awaited<ReturnType<KubeApi["listDeployments"]>>;
    let replicaSets: Awaited<ReturnType<KubeApi["listReplicaSets"]>>;
    try {
      ({ api, tokenExpiresAt } = await connectClusterUntil(ctx, cluster));
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
      const outcome = await checkDeployment({
        ctx,
        report,
        api,
        namespace,
        resource: resource(name),
        read: { deployment, replicaSets },
        cooldownMinutes: options.cooldownMinutes ?? system.rollback.cooldownMinutes,
      });
      if (outcome.issued) issued.push(outcome.issued);
    }
    // Every rollback is sent before any is followed, and they are followed together: one that never
    // completes must not hold another deployment's rollback back for the whole follow time.
    const followed = await Promise.all(
      issued.map((i) => followRollback({ ctx, report, api, namespace, issued: i, tokenExpiresAt })),
    );
    return finishKubeRollback(ctx, report, followed);
  },
};

const shortName = (resource: string) => resource.split("/").pop() ?? resource;

/**
 * The follow-ups on the report (`details.follows`, an escalation for a rollback that did not bring the
 * deployment back, status `failed` then, as the run did not restore service) and the one line a person reads.
 */
function finishKubeRollback(ctx: RunbookContext, report: ReportBuilder, followed: FollowedRollback[]): Report {
  const rolled = report.actions.filter((a) => a.action === "rollback" && a.status !== "failed");
  const escalated = report.actions.filter((a) => a.action === "escalate");
  const unhealthy = followed.filter((f) => !f.healthy);
  report.metric("rollbacks", rolled.length);
  report.metric("escalations", escalated.length);
  if (followed.length > 0) {
    report.details.follows = followed;
    report.metric("notHealthyAfterRollback", unhealthy.length);
    const times = followed.flatMap((f) => (f.issuedToHealthyMs === undefined ? [] : [f.issuedToHealthyMs]));
    if (times.length > 0) report.metric("issuedToHealthyMs", Math.max(...times));
  }
  for (const f of unhealthy) {
    report.details.escalation ??= {
      severity: "critical",
      reason: `${f.resource}: rolled back to template ${f.to.hash} but not healthy: ${f.reason ?? "unknown"}`,
    };
  }
  const parts = [
    rolled.length > 0
      ? `${ctx.dryRun ? "would roll back" : "rolled back"} ${rolled.map((a) => shortName(a.resource)).join(", ")}`
      : "no rollback",
  ];
  for (const f of followed) parts.push(followLine(f));
  if (escalated.length > 0) parts.push(`escalated ${escalated.map((a) => shortName(a.resource)).join(", ")}`);
  // Status as the ECS rollback's: the rollback `done` and its follow `failed` make the run `partial`; the
  // critical escalation above is what pages.
  return report.finish({ summary: parts.join("; ") });
}

function followLine(f: FollowedRollback): string {
  const name = shortName(f.resource);
  if (!f.healthy) return `${name} NOT healthy: ${f.reason ?? "unknown"}`;
  return `${name} healthy ${((f.issuedToHealthyMs ?? 0) / 1000).toFixed(1)} s after the rollback`;
}
