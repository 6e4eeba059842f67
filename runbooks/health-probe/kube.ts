import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import { errorMessage, UnknownNameError } from "../../lib/errors.js";
import { type Endpoint, endpointsOf } from "../../lib/health/endpoints.js";
import { INITIAL_PROBE_STATE, type ProbeState } from "../../lib/health/evaluate.js";
import { clusterName, eksClusterArn, type KubernetesAccess } from "../../lib/iam.js";
import type { KubeApi } from "../../lib/kube/client.js";
import { currentReplicaSet } from "../../lib/kube/rollout.js";
import { redactText } from "../../lib/redact.js";
import { plural } from "../../lib/text.js";
import type { System } from "../../systems/schema.js";
import { formatKubeProbe, kubeProbeOf, ROLLBACK_MARKS } from "../kube-rollback/apply.js";
import { kubeRollbackAccess } from "../kube-rollback/index.js";
import { checkDeployment, connectCluster, type DeploymentRead, onFreshReads } from "../kube-rollback/run.js";
import type { ReportBuilder } from "../report.js";
import type { Permission, Report, RunbookContext } from "../types.js";
import { type Sampled, sampleEndpoint } from "./sample.js";

/**
 * The health probe on EKS: the same sampler and consecutive counts as on ECS, kept in an annotation on the
 * deployment and counted on the current revision only (a new rollout starts afresh: failures before it are
 * not its). After the unhealthy threshold, the deployment goes through kube-rollback's check with a probe
 * trigger — back to the previous revision's pod template behind the shared guards — the way the ECS probe
 * hands an unhealthy service to the ECS rollback.
 */

/** The deployments of an EKS system that the probe can reach (a health check with a `baseUrl`). */
export function probeableDeployments(system: System): string[] {
  if (system.runtime.kind !== "eks") return [];
  return system.runtime.deployments.map((d) => d.name).filter((name) => endpointsOf(system, name).length > 0);
}

/** IAM on EKS: find the cluster's endpoint and CA; nothing when no deployment is probe-able or rollback is off. */
export function kubeProbePermissions(system: System): Permission[] {
  if (system.runtime.kind !== "eks" || !system.rollback.enabled || probeableDeployments(system).length === 0) return [];
  return [
    { actions: ["eks:DescribeCluster"], resources: [eksClusterArn(system, clusterName(system.runtime.cluster))] },
  ];
}

/** Kubernetes access on EKS: kube-rollback's (read, fresh read, patch deployments; list replicasets). */
export function kubeProbeAccess(system: System): KubernetesAccess[] {
  return kubeProbePermissions(system).length === 0 ? [] : kubeRollbackAccess(system);
}

/** Options of {@link probeKube}. */
export interface KubeProbeInput {
  /** Probe only this deployment. */
  only?: string | undefined;
  samples?: number | undefined;
}

/** One probe run over an EKS system's probe-able deployments. */
export async function probeKube(ctx: RunbookContext, report: ReportBuilder, input: KubeProbeInput): Promise<Report> {
  const { system } = ctx;
  if (system.runtime.kind !== "eks") throw new Error(`${system.id} is not an EKS system`);
  const { namespace } = system.runtime;
  const cluster = clusterName(system.runtime.cluster);
  const names = system.runtime.deployments.map((d) => d.name);
  if (input.only && !names.includes(input.only)) throw new UnknownNameError("deployment", input.only, names);
  const targets = probeableDeployments(system).filter((name) => !input.only || name === input.only);
  if (targets.length === 0) {
    report.add({
      resource: system.id,
      action: "probe",
      status: "skipped",
      reason: "no health check of these deployments has a baseUrl (health[].baseUrl: the guides name no host)",
    });
    return report.finish({ summary: "skipped: no probe-able endpoint" });
  }
  const resource = (name: string) => `eks/${cluster}/${namespace}/${name}`;
  let api: KubeApi;
  let deployments: V1Deployment[];
  let replicaSets: V1ReplicaSet[];
  try {
    api = await connectCluster(ctx, cluster);
    [deployments, replicaSets] = await Promise.all([api.listDeployments(namespace), api.listReplicaSets(namespace)]);
  } catch (error) {
    const reason = redactText(errorMessage(error));
    for (const name of targets) report.add({ resource: resource(name), action: "probe", status: "failed", reason });
    return report.finish({ summary: `could not read the cluster: ${reason}` });
  }
  await Promise.all(
    targets.map(async (name) => {
      const deployment = deployments.find((d) => d.metadata?.name === name);
      const endpoint = endpointsOf(system, name)[0];
      if (!deployment || !endpoint) {
        report.add({ resource: resource(name), action: "probe", status: "failed", reason: "deployment not found" });
        return;
      }
      const step = { ctx, report, api, namespace, resource: resource(name), endpoint };
      await probeDeployment(step, { deployment, replicaSets }, input.samples);
    }),
  );
  return report.finish({ summary: summaryOf(report) });
}

/** What probing one deployment needs. */
interface ProbeStep {
  ctx: RunbookContext;
  report: ReportBuilder;
  api: KubeApi;
  namespace: string;
  resource: string;
  endpoint: Endpoint;
}

const templateOf = (read: DeploymentRead) =>
  currentReplicaSet(read.deployment, read.replicaSets)?.metadata?.labels?.["pod-template-hash"];

async function probeDeployment(step: ProbeStep, read: DeploymentRead, samplesAsked: number | undefined) {
  const { ctx, report, resource, endpoint } = step;
  const hash = templateOf(read);
  if (!hash) {
    report.add({ resource, action: "probe", status: "failed", reason: "its current replicaset was not found" });
    return;
  }
  const stored = read.deployment.metadata?.annotations?.[ROLLBACK_MARKS.probe];
  const sampled = await sampleEndpoint(ctx, endpoint, kubeProbeOf(stored, hash) ?? INITIAL_PROBE_STATE, samplesAsked);
  const text = formatKubeProbe(sampled.state, hash);
  let latest = read;
  try {
    if (text !== stored && !ctx.dryRun) latest = await storeProbeState(step, read, hash, text);
  } catch (error) {
    report.add({
      resource,
      action: "probe",
      status: "failed",
      reason: `state not stored: ${redactText(errorMessage(error))}`,
    });
    return;
  }
  report.add({
    resource,
    action: "probe",
    status: text !== stored && ctx.dryRun ? "would-do" : "done",
    reason: probeReason(sampled, endpoint),
    after: text,
  });
  if (sampled.state.verdict !== "unhealthy") return;
  await checkDeployment({
    ctx,
    report,
    api: step.api,
    namespace: step.namespace,
    resource,
    read: latest,
    cooldownMinutes: ctx.system.rollback.cooldownMinutes,
    probe: { failure: failureOf(sampled, endpoint), hash },
  });
}

/**
 * Writes the state on the deployment, guarded by its resourceVersion; a 409 reads it again, and the state is
 * written only while the same template runs (a count for a revision that is gone is no count).
 */
async function storeProbeState(step: ProbeStep, read: DeploymentRead, hash: string, text: string) {
  return onFreshReads({
    api: step.api,
    namespace: step.namespace,
    name: read.deployment.metadata?.name ?? "",
    read,
    write: async (fresh) => {
      if (templateOf(fresh) !== hash) return fresh;
      const deployment = await step.api.patchDeploymentAnnotations({
        namespace: step.namespace,
        name: fresh.deployment.metadata?.name ?? "",
        resourceVersion: fresh.deployment.metadata?.resourceVersion ?? "",
        annotations: { [ROLLBACK_MARKS.probe]: text },
      });
      return { deployment, replicaSets: fresh.replicaSets };
    },
  });
}

function probeReason(sampled: Sampled, endpoint: Endpoint): string {
  const { state, samples } = sampled;
  const count = `${plural(state.failures, "failure")} in a row, threshold ${endpoint.thresholds.unhealthyThreshold}`;
  return `${state.verdict} (${count}): ${samples.map((s) => s.detail).join("; ")}`;
}

function failureOf(sampled: Sampled, endpoint: Endpoint): string {
  const { state }: { state: ProbeState } = sampled;
  const last = sampled.samples.at(-1)?.detail ?? "unhealthy";
  const since = state.since ? ` since ${state.since.toISOString()}` : "";
  return `health endpoint ${endpoint.url} failed ${state.failures} times in a row${since} (threshold ${endpoint.thresholds.unhealthyThreshold}; last: ${last})`;
}

function summaryOf(report: ReportBuilder): string {
  const notable = report.actions.filter((a) => a.action !== "probe" || !a.reason?.startsWith("healthy"));
  if (notable.length === 0) return `${plural(report.actions.length, "endpoint")} healthy`;
  return notable.map((a) => `${a.resource.split("/").pop()} ${a.action} ${a.status}`).join("; ");
}
