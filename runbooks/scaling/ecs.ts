import {
  type ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  type ScalableTarget,
} from "@aws-sdk/client-application-auto-scaling";
import {
  DescribeServicesCommand,
  type DescribeServicesCommandOutput,
  type ECSClient,
  type Service,
} from "@aws-sdk/client-ecs";
import { errorMessage } from "../../lib/errors.js";
import { clusterName } from "../../lib/iam.js";
import { chunk, mapPool } from "../../lib/pool.js";
import { type RetryOptions, retryThrottled } from "../../lib/retry.js";
import { type Bounds, type Capacity, tagMap } from "./tags.js";

/** DescribeServices takes at most 10 services a call (ECS API reference). */
export const DESCRIBE_SERVICES_MAX = 10;
/** DescribeScalableTargets returns at most 50 targets a page; we ask for 50 resource ids at a time to match. */
export const SCALABLE_TARGETS_MAX = 50;
/** The scalable dimension of an ECS service's desired count. */
export const ECS_DESIRED_COUNT = "ecs:service:DesiredCount";

/** Application Auto Scaling's resource id of an ECS service: `service/<cluster>/<service>`. */
export function scalableResourceId(cluster: string, service: string): string {
  return `service/${clusterName(cluster)}/${service}`;
}

/** Deployment state that makes a service unsafe to scale down now. */
export interface DeploymentActivity {
  /** Why a deployment is considered in progress, when one is. */
  inProgress?: string;
  /** When the newest deployment (or task set) started. */
  lastDeployedAt?: Date;
}

/**
 * Reads a service's deployments: a rolling update in progress (more than one live deployment, or a rollout
 * still IN_PROGRESS), a blue/green deployment in progress (a second task set), and when the newest started.
 */
export function deploymentActivity(service: Service): DeploymentActivity {
  const live = (service.deployments ?? []).filter((d) => d.status !== "INACTIVE");
  const taskSets = (service.taskSets ?? []).filter((t) => t.status !== "INACTIVE");
  const starts = [...live, ...taskSets].flatMap((d) => (d.createdAt ? [d.createdAt.getTime()] : []));
  const activity: DeploymentActivity = starts.length > 0 ? { lastDeployedAt: new Date(Math.max(...starts)) } : {};
  const rolling = live.find((d) => d.rolloutState === "IN_PROGRESS");
  if (rolling) {
    activity.inProgress = `deployment ${rolling.id ?? "?"} is rolling out (rolloutState IN_PROGRESS)`;
  } else if (live.length > 1) {
    activity.inProgress = `${live.length} deployments are live (${live.map((d) => d.status).join(", ")})`;
  } else if (taskSets.some((t) => t.status === "ACTIVE")) {
    activity.inProgress = "a blue/green deployment is in progress (an ACTIVE task set beside the PRIMARY)";
  }
  return activity;
}

/** What scaling needs to know about one service. */
export interface ServiceSnapshot {
  name: string;
  /** The ARN DescribeServices returned: the one TagResource must be given. */
  arn: string;
  capacity: Capacity;
  tags: Map<string, string>;
  deployment: DeploymentActivity;
}

/** A service as found, or why it could not be read (it is then reported failed, never skipped silently). */
export type ServiceLookup = { ok: true; snapshot: ServiceSnapshot } | { ok: false; reason: string };

/** Options of {@link loadServices}. */
export interface LoadServicesOptions {
  ecs: ECSClient;
  autoscaling: ApplicationAutoScalingClient;
  cluster: string;
  names: readonly string[];
  /** Calls in flight at once. */
  concurrency: number;
  signal?: AbortSignal | undefined;
  retry?: RetryOptions;
}

/** Result of {@link loadServices}: a lookup per described service; none for services left when aborted. */
export interface LoadedServices {
  lookups: Map<string, ServiceLookup>;
  aborted: boolean;
}

type DescribeJob = { kind: "ecs"; names: string[] } | { kind: "aas"; names: string[] };

/** What DescribeServices said about one service: the service, or why it is missing. */
type Described = { service: Service } | { reason: string };

/** Records one DescribeServices answer: each service returned, and each failure naming a service of this batch. */
function recordDescribed(out: DescribeServicesCommandOutput, batch: readonly string[], found: Map<string, Described>) {
  for (const service of out.services ?? []) {
    if (service.serviceName) found.set(service.serviceName, { service });
  }
  for (const failure of out.failures ?? []) {
    const name = failure.arn?.split("/").pop();
    if (name && batch.includes(name)) {
      const detail = failure.detail ? ` (${failure.detail})` : "";
      found.set(name, { reason: `DescribeServices: ${failure.reason ?? "failure"}${detail}` });
    }
  }
}

/**
 * One service's lookup from what was read: failed when DescribeServices or DescribeScalableTargets failed
 * for it, when it is not ACTIVE, or when the answer lacks its desired count or ARN.
 */
function lookupFor(read: {
  name: string;
  entry: Described | undefined;
  autoscalingError: string | undefined;
  bounds: Bounds | undefined;
}): ServiceLookup {
  const { name, entry, autoscalingError } = read;
  if (!entry) return { ok: false, reason: "not returned by DescribeServices" };
  if ("reason" in entry) return { ok: false, reason: entry.reason };
  const { service } = entry;
  if (autoscalingError) return { ok: false, reason: autoscalingError };
  if (service.status && service.status !== "ACTIVE") return { ok: false, reason: `service is ${service.status}` };
  if (service.desiredCount === undefined || !service.serviceArn) {
    return { ok: false, reason: "DescribeServices returned no desiredCount or serviceArn" };
  }
  return {
    ok: true,
    snapshot: {
      name,
      arn: service.serviceArn,
      capacity: read.bounds
        ? { desired: service.desiredCount, bounds: read.bounds }
        : { desired: service.desiredCount },
      tags: tagMap(service.tags),
      deployment: deploymentActivity(service),
    },
  };
}

/**
 * Describes services (with their tags) in batches of {@link DESCRIBE_SERVICES_MAX} and their scalable
 * targets in batches of {@link SCALABLE_TARGETS_MAX}, all through one bounded pool. A batch that fails marks
 * only its own services failed. A service whose autoscaling could not be read is failed too: lowering its
 * desired count without knowing its bounds is exactly what autoscaling undoes, and the record would miss
 * its min/max.
 */
export async function loadServices(options: LoadServicesOptions): Promise<LoadedServices> {
  const { ecs, autoscaling, cluster, names } = options;
  const retry = { ...options.retry, signal: options.signal };
  const found = new Map<string, Described>();
  const bounds = new Map<string, Bounds>();
  const autoscalingErrors = new Map<string, string>();
  const autoscalingRead = new Set<string>();
  const jobs: DescribeJob[] = [
    ...chunk(names, DESCRIBE_SERVICES_MAX).map((batch) => ({ kind: "ecs" as const, names: batch })),
    ...chunk(names, SCALABLE_TARGETS_MAX).map((batch) => ({ kind: "aas" as const, names: batch })),
  ];

  const describeEcs = async (batch: string[]) => {
    try {
      const out = await retryThrottled(
        () => ecs.send(new DescribeServicesCommand({ cluster, services: batch, include: ["TAGS"] })),
        retry,
      );
      recordDescribed(out, batch, found);
    } catch (error) {
      for (const name of batch) found.set(name, { reason: `DescribeServices failed: ${errorMessage(error)}` });
    }
  };

  const describeAas = async (batch: string[]) => {
    const ids = batch.map((name) => scalableResourceId(cluster, name));
    try {
      let nextToken: string | undefined;
      do {
        const token = nextToken;
        const out = await retryThrottled(
          () =>
            autoscaling.send(
              new DescribeScalableTargetsCommand({
                ServiceNamespace: "ecs",
                ResourceIds: ids,
                ScalableDimension: ECS_DESIRED_COUNT,
                MaxResults: SCALABLE_TARGETS_MAX,
                ...(token ? { NextToken: token } : {}),
              }),
            ),
          retry,
        );
        for (const target of out.ScalableTargets ?? []) recordTarget(target);
        nextToken = out.NextToken;
      } while (nextToken);
      for (const name of batch) autoscalingRead.add(name);
    } catch (error) {
      for (const name of batch) autoscalingErrors.set(name, `DescribeScalableTargets failed: ${errorMessage(error)}`);
    }
  };

  const recordTarget = (target: ScalableTarget) => {
    if (target.ScalableDimension !== ECS_DESIRED_COUNT || !target.ResourceId) return;
    const name = target.ResourceId.split("/").pop();
    if (name && target.MinCapacity !== undefined && target.MaxCapacity !== undefined) {
      bounds.set(name, { min: target.MinCapacity, max: target.MaxCapacity });
    }
  };

  const outcomes = await mapPool(
    jobs,
    options.concurrency,
    (job) => (job.kind === "ecs" ? describeEcs(job.names) : describeAas(job.names)),
    { signal: options.signal },
  );
  const aborted = outcomes.some((o) => o.status === "not-started");

  const lookups = new Map<string, ServiceLookup>();
  for (const name of names) {
    const entry = found.get(name);
    const asError = autoscalingErrors.get(name);
    const asDone = autoscalingRead.has(name) || asError !== undefined;
    if (aborted && (!entry || !asDone)) continue; // not reached before the abort: the caller lists it
    lookups.set(name, lookupFor({ name, entry, autoscalingError: asError, bounds: bounds.get(name) }));
  }
  return { lookups, aborted };
}
