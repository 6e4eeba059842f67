import type { V1Deployment, V1ReplicaSet, V2HorizontalPodAutoscaler } from "@kubernetes/client-node";
import { errorMessage } from "../../lib/errors.js";
import { isKubeConflict, type KubeApi } from "../../lib/kube/client.js";
import { podRequests } from "../../lib/kube/quantity.js";
import { rolloutActivity } from "../../lib/kube/rollout.js";
import { type RetryOptions, retryThrottled } from "../../lib/retry.js";
import type { StepLog, Workload, WorkloadBackend, WorkloadLookup } from "./backend.js";
import { sameBounds } from "./decide.js";
import { ScalingStepError } from "./errors.js";
import { type Capacity, formatRecord, isoSeconds, KUBE_MARKS } from "./tags.js";

/** An HPA's `minReplicas` defaults to 1 when unset (autoscaling/v2 reference). */
const HPA_DEFAULT_MIN = 1;

/** What the backend remembers of one deployment between reading it and changing it. */
interface DeploymentState {
  resourceVersion: string;
  hpa?: { name: string; resourceVersion: string };
}

/** Options of {@link eksBackend}. */
export interface EksBackendOptions {
  api: KubeApi;
  /** Cluster name, for report resources (`eks/<cluster>/<namespace>/<deployment>`). */
  cluster: string;
  namespace: string;
  concurrency: number;
  signal?: AbortSignal | undefined;
  retry: RetryOptions;
}

/** The HPAs that target a deployment by name (autoscaling/v2 `scaleTargetRef`). */
function hpasFor(name: string, hpas: readonly V2HorizontalPodAutoscaler[]): V2HorizontalPodAutoscaler[] {
  return hpas.filter((h) => {
    const ref = h.spec?.scaleTargetRef;
    return ref?.kind === "Deployment" && ref.name === name && (ref.apiVersion ?? "apps/v1").startsWith("apps/");
  });
}

/** `app=api,tier=web` from a selector's matchLabels; `undefined` when it has expressions (list all, filter by owner). */
/** The error message of the first rejected list call, for every deployment the failed load could not read. */
function firstRejectionReason(outcomes: readonly PromiseSettledResult<unknown>[]): string {
  const failed = outcomes.find((o) => o.status === "rejected");
  return errorMessage(failed?.status === "rejected" ? failed.reason : "not read");
}

function labelSelector(deployment: V1Deployment): string | undefined {
  const selector = deployment.spec?.selector;
  if (!selector?.matchLabels || (selector.matchExpressions?.length ?? 0) > 0) return undefined;
  const pairs = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(",") : undefined;
}

/**
 * Turns what was read about one deployment into a workload (and the versions its writes will carry), or the
 * reason it cannot be scaled safely.
 */
function describe(
  deployment: V1Deployment,
  hpas: readonly V2HorizontalPodAutoscaler[],
  replicaSets: readonly V1ReplicaSet[],
): { workload: Workload; state: DeploymentState } | { reason: string } {
  const name = deployment.metadata?.name ?? "?";
  const resourceVersion = deployment.metadata?.resourceVersion;
  if (!resourceVersion) return { reason: "the API returned the deployment without a resourceVersion" };
  if (deployment.metadata?.deletionTimestamp) return { reason: "the deployment is being deleted" };
  const targeting = hpasFor(name, hpas);
  if (targeting.length > 1) {
    return {
      reason: `${targeting.length} HorizontalPodAutoscalers target it (${targeting.map((h) => h.metadata?.name).join(", ")}): ambiguous, left alone`,
    };
  }
  const hpa = targeting[0];
  const desired = deployment.spec?.replicas ?? 1;
  let capacity: Capacity = { desired };
  let state: DeploymentState = { resourceVersion };
  if (hpa) {
    const hpaVersion = hpa.metadata?.resourceVersion;
    if (!hpa.metadata?.name || !hpaVersion || hpa.spec?.maxReplicas === undefined) {
      return { reason: "its HorizontalPodAutoscaler came back without a name, resourceVersion or maxReplicas" };
    }
    capacity = { desired, bounds: { min: hpa.spec.minReplicas ?? HPA_DEFAULT_MIN, max: hpa.spec.maxReplicas } };
    state = { resourceVersion, hpa: { name: hpa.metadata.name, resourceVersion: hpaVersion } };
  }
  return {
    workload: {
      name,
      capacity,
      marks: new Map(Object.entries(deployment.metadata?.annotations ?? {})),
      deployment: rolloutActivity(deployment, replicaSets),
      size: podRequests(deployment.spec?.template),
    },
    state,
  };
}

/**
 * Kubernetes deployments as workloads: the record, opt-out and keep-awake marks are annotations on the
 * deployment; with an HPA its min/max are lowered to the floor (else the HPA would scale straight back) and
 * restored exactly; the replica count moves through the scale subresource. Every write carries the
 * `resourceVersion` it was decided on; a 409 surfaces as a conflicting {@link ScalingStepError} and the run
 * reads the deployment afresh ({@link WorkloadBackend.reload}) and decides again.
 */
export function eksBackend(options: EksBackendOptions): WorkloadBackend {
  const { api, namespace, retry } = options;
  const states = new Map<string, DeploymentState>();
  const read = <T>(run: () => Promise<T>) => retryThrottled(run, retry);

  const step = async <T>(log: StepLog, name: string, deployment: string, run: () => Promise<T>): Promise<T> => {
    try {
      const out = await retryThrottled(run, retry);
      log.done.push(name);
      return out;
    } catch (error) {
      throw new ScalingStepError({ step: name, service: deployment, cause: error, conflict: isKubeConflict(error) });
    }
  };
  const stateOf = (workload: Workload): DeploymentState => {
    const state = states.get(workload.name);
    if (!state) throw new Error(`deployment ${workload.name} was not read in this run`);
    return state;
  };
  const annotate = async (log: StepLog, stepName: string, workload: Workload, value: Record<string, string | null>) => {
    const state = stateOf(workload);
    const out = await step(log, stepName, workload.name, () =>
      api.patchDeploymentAnnotations({
        namespace,
        name: workload.name,
        resourceVersion: state.resourceVersion,
        annotations: value,
      }),
    );
    state.resourceVersion = out.metadata?.resourceVersion ?? state.resourceVersion;
  };
  const applyCapacity = async (log: StepLog, workload: Workload, target: Capacity) => {
    const state = stateOf(workload);
    if (target.bounds && state.hpa && !sameBounds(workload.capacity.bounds, target.bounds)) {
      const hpa = state.hpa;
      const bounds = target.bounds;
      const out = await step(log, "patch HorizontalPodAutoscaler", workload.name, () =>
        api.patchHorizontalPodAutoscaler({
          namespace,
          name: hpa.name,
          resourceVersion: hpa.resourceVersion,
          minReplicas: bounds.min,
          maxReplicas: bounds.max,
        }),
      );
      hpa.resourceVersion = out.metadata?.resourceVersion ?? hpa.resourceVersion;
    }
    if (target.desired !== workload.capacity.desired) {
      const out = await step(log, "patch scale", workload.name, () =>
        api.patchDeploymentScale({
          namespace,
          name: workload.name,
          resourceVersion: state.resourceVersion,
          replicas: target.desired,
        }),
      );
      state.resourceVersion = out.metadata?.resourceVersion ?? state.resourceVersion;
    }
  };
  const remember = (found: ReturnType<typeof describe>): WorkloadLookup => {
    if ("reason" in found) return { ok: false, reason: found.reason };
    states.set(found.workload.name, found.state);
    return { ok: true, workload: found.workload };
  };

  const lookupEach = (
    names: readonly string[],
    deployments: V1Deployment[],
    hpas: V2HorizontalPodAutoscaler[],
    replicaSets: V1ReplicaSet[],
  ): Map<string, WorkloadLookup> => {
    const lookups = new Map<string, WorkloadLookup>();
    const byName = new Map(deployments.map((d) => [d.metadata?.name ?? "", d]));
    for (const name of names) {
      const deployment = byName.get(name);
      if (!deployment) {
        lookups.set(name, { ok: false, reason: `no deployment "${name}" in namespace ${namespace}` });
        continue;
      }
      lookups.set(name, remember(describe(deployment, hpas, replicaSets)));
    }
    return lookups;
  };

  return {
    noun: "deployment",
    marks: KUBE_MARKS,
    autoscaler: "HorizontalPodAutoscaler",
    autoscalerMin: 1,
    recordStep: "annotate deployment",
    clearStep: "remove annotation",
    resource: (name) => `eks/${options.cluster}/${namespace}/${name}`,

    async load(names) {
      if (options.signal?.aborted) return { lookups: new Map<string, WorkloadLookup>(), aborted: true };
      // Three list calls for the whole namespace, in parallel: far fewer calls than one per deployment.
      const [deployments, hpas, replicaSets] = await Promise.allSettled([
        read(() => api.listDeployments(namespace)),
        read(() => api.listHorizontalPodAutoscalers(namespace)),
        read(() => api.listReplicaSets(namespace)),
      ]);
      if (deployments.status === "rejected" || hpas.status === "rejected" || replicaSets.status === "rejected") {
        const reason = firstRejectionReason([deployments, hpas, replicaSets]);
        return { lookups: new Map(names.map((name) => [name, { ok: false, reason }])), aborted: false };
      }
      return { lookups: lookupEach(names, deployments.value, hpas.value, replicaSets.value), aborted: false };
    },

    async reload(name) {
      try {
        const deployment = await read(() => api.readDeployment(namespace, name));
        const [hpas, replicaSets] = await Promise.all([
          read(() => api.listHorizontalPodAutoscalers(namespace)),
          read(() => api.listReplicaSets(namespace, labelSelector(deployment))),
        ]);
        return remember(describe(deployment, hpas, replicaSets));
      } catch (error) {
        return { ok: false, reason: `reading ${name} again failed: ${errorMessage(error)}` };
      }
    },

    async lower(workload, decision, log) {
      if (decision.write) {
        await annotate(log, "annotate deployment", workload, { [KUBE_MARKS.record]: formatRecord(decision.write) });
      }
      await applyCapacity(log, workload, decision.target);
    },

    async restore(workload, decision, log) {
      await applyCapacity(log, workload, decision.target);
      await annotate(log, "remove annotation", workload, { [KUBE_MARKS.record]: null });
    },

    setKeepAwake: (workload, until) =>
      annotate({ done: [] }, "annotate deployment", workload, { [KUBE_MARKS.keepAwake]: isoSeconds(until) }),
    clearKeepAwake: (workload) =>
      annotate({ done: [] }, "remove annotation", workload, { [KUBE_MARKS.keepAwake]: null }),
  };
}

/** A backend for a cluster that could not be reached: every deployment is reported failed with the reason. */
export function unreachableBackend(options: { cluster: string; namespace: string; reason: string }): WorkloadBackend {
  const refuse = async () => {
    throw new Error(options.reason);
  };
  return {
    noun: "deployment",
    marks: KUBE_MARKS,
    autoscaler: "HorizontalPodAutoscaler",
    autoscalerMin: 1,
    recordStep: "annotate deployment",
    clearStep: "remove annotation",
    resource: (name) => `eks/${options.cluster}/${options.namespace}/${name}`,
    load: async (names) => ({
      lookups: new Map(names.map((name) => [name, { ok: false as const, reason: options.reason }])),
      aborted: false,
    }),
    lower: refuse,
    restore: refuse,
    setKeepAwake: refuse,
    clearKeepAwake: refuse,
  };
}
