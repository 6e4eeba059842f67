import type { AwsClients } from "../../lib/aws/clients.js";
import type { RetryOptions } from "../../lib/retry.js";
import { clearKeepAwake, lowerService, restoreService, setKeepAwake } from "./apply.js";
import type { Workload, WorkloadBackend, WorkloadLookup } from "./backend.js";
import { loadServices, type ServiceSnapshot } from "./ecs.js";
import { ECS_MARKS } from "./tags.js";

/** Options of {@link ecsBackend}. */
export interface EcsBackendOptions {
  clients: Pick<AwsClients, "ecs" | "autoscaling">;
  /** Short cluster name. */
  cluster: string;
  /** Task size per service, from the catalogue (for the savings estimate). */
  sizes: ReadonlyMap<string, { cpuUnits?: number | undefined; memoryMiB?: number | undefined }>;
  concurrency: number;
  signal?: AbortSignal | undefined;
  retry: RetryOptions;
}

/**
 * ECS services as workloads: DescribeServices (with tags) and DescribeScalableTargets to read; tags for the
 * marks; RegisterScalableTarget and UpdateService to change (`apply.ts`).
 */
export function ecsBackend(options: EcsBackendOptions): WorkloadBackend {
  const { cluster, retry } = options;
  const actuator = { ecs: options.clients.ecs, autoscaling: options.clients.autoscaling, cluster, retry };
  const services = new Map<string, ServiceSnapshot>();
  const snapshotOf = (workload: Workload): ServiceSnapshot => {
    const service = services.get(workload.name);
    if (!service) throw new Error(`service ${workload.name} was not read in this run`);
    return service;
  };
  return {
    noun: "service",
    marks: ECS_MARKS,
    autoscaler: "scalable target",
    autoscalerMin: 0,
    recordStep: "TagResource",
    clearStep: "UntagResource",
    resource: (name) => `${cluster}/${name}`,
    async load(names) {
      const loaded = await loadServices({
        ecs: options.clients.ecs,
        autoscaling: options.clients.autoscaling,
        cluster,
        names,
        concurrency: options.concurrency,
        signal: options.signal,
        retry,
      });
      const lookups = new Map<string, WorkloadLookup>();
      for (const [name, lookup] of loaded.lookups) {
        if (!lookup.ok) {
          lookups.set(name, lookup);
          continue;
        }
        services.set(name, lookup.snapshot);
        const size = options.sizes.get(name);
        lookups.set(name, {
          ok: true,
          workload: {
            name,
            capacity: lookup.snapshot.capacity,
            marks: lookup.snapshot.tags,
            deployment: lookup.snapshot.deployment,
            ...(size ? { size } : {}),
          },
        });
      }
      return { lookups, aborted: loaded.aborted };
    },
    lower: (workload, decision, log) => lowerService(actuator, snapshotOf(workload), decision, log),
    restore: (workload, decision, log) => restoreService(actuator, snapshotOf(workload), decision, log),
    setKeepAwake: (workload, until) => setKeepAwake(actuator, snapshotOf(workload), until),
    clearKeepAwake: (workload) => clearKeepAwake(actuator, snapshotOf(workload)),
  };
}
