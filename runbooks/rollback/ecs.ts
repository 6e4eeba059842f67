import { DescribeServicesCommand, type ECSClient, type Service } from "@aws-sdk/client-ecs";
import { tagMap } from "../scaling/tags.js";
import type { Controller, WorkloadFacts } from "./plan.js";
import {
  KNOWN_GOOD_AT_TAG,
  KNOWN_GOOD_TAG,
  KNOWN_GOOD_WHY_TAG,
  LAST_ROLLBACK_TAG,
  parseLastRollback,
  parseRolledBackFrom,
  ROLLED_BACK_FROM_TAG,
  revisionOf,
} from "./tags.js";

/** One ECS service as rollback sees it: the raw service (for apply/follow) and the facts (for the plan). */
export interface ServiceState {
  service: Service;
  arn: string;
  tags: Map<string, string>;
  facts: WorkloadFacts;
  /** The known-good task definition's full ARN, as recorded. */
  knownGoodArn?: string;
}

/** Reads services (with their tags) in one call; a name ECS does not know is in `missing` with its reason. */
export async function describeServices(
  ecs: ECSClient,
  cluster: string,
  names: readonly string[],
  signal?: AbortSignal,
): Promise<{ found: Map<string, ServiceState>; missing: Map<string, string> }> {
  const out = await ecs.send(
    new DescribeServicesCommand({ cluster, services: [...names], include: ["TAGS"] }),
    signal ? { abortSignal: signal } : {},
  );
  const found = new Map<string, ServiceState>();
  for (const service of out.services ?? []) {
    if (!service.serviceName || service.status === "INACTIVE") continue;
    found.set(service.serviceName, stateOf(cluster, service));
  }
  const missing = new Map<string, string>();
  for (const name of names) {
    if (found.has(name)) continue;
    const failure = out.failures?.find((f) => f.arn?.endsWith(`/${name}`));
    missing.set(name, failure?.reason ? `ECS: ${failure.reason}` : "not found (or INACTIVE)");
  }
  return { found, missing };
}

const CONTROLLERS: Record<string, Controller> = { ECS: "rolling", CODE_DEPLOY: "code-deploy", EXTERNAL: "external" };

/** The facts of a service, from DescribeServices. */
export function stateOf(cluster: string, service: Service): ServiceState {
  const tags = tagMap(service.tags);
  const deployments = service.deployments ?? [];
  const primary = deployments.find((d) => d.status === "PRIMARY");
  const current = revisionOf(primary?.taskDefinition ?? service.taskDefinition ?? "");
  const knownGoodArn = tags.get(KNOWN_GOOD_TAG);
  const lastRollback = parseLastRollback(tags.get(LAST_ROLLBACK_TAG));
  const live = deployments.filter((d) => d.status !== "INACTIVE");
  const facts: WorkloadFacts = {
    name: `${cluster}/${service.serviceName ?? "?"}`,
    controller: CONTROLLERS[service.deploymentController?.type ?? "ECS"] ?? "external",
    current,
    ...(primary?.createdAt ? { deployedAt: primary.createdAt } : {}),
    rollingOut: primary?.rolloutState === "IN_PROGRESS" || live.length > 1,
    rolledBackFrom: parseRolledBackFrom(tags.get(ROLLED_BACK_FROM_TAG)),
    ...knownGoodFacts(tags),
    ...(lastRollback ? { lastRollback: { at: lastRollback.at, from: lastRollback.from, to: lastRollback.to } } : {}),
  };
  const platform = platformRollback(service);
  if (platform) facts.platformRollback = platform;
  return { service, arn: service.serviceArn ?? "", tags, facts, ...(knownGoodArn ? { knownGoodArn } : {}) };
}

/** The known-good revision recorded in the service's tags, with when and why it was recorded, if any. */
function knownGoodFacts(tags: Map<string, string>): Pick<WorkloadFacts, "knownGood"> {
  const knownGoodArn = tags.get(KNOWN_GOOD_TAG);
  if (!knownGoodArn) return {};
  const knownGoodAt = Date.parse(tags.get(KNOWN_GOOD_AT_TAG) ?? "");
  const why = tags.get(KNOWN_GOOD_WHY_TAG);
  return {
    knownGood: {
      revision: revisionOf(knownGoodArn),
      ...(Number.isNaN(knownGoodAt) ? {} : { at: new Date(knownGoodAt) }),
      ...(why ? { why } : {}),
    },
  };
}

/**
 * ECS is rolling back by itself: the circuit breaker (or ECS deployment alarms) with `rollback` on, and a
 * deployment already FAILED. ECS then starts a deployment of the last COMPLETED one; a second rollback
 * from us would fight it (two deployments racing for the same tasks).
 */
export function platformRollback(service: Service): string | undefined {
  const config = service.deploymentConfiguration;
  const autoRollback = config?.deploymentCircuitBreaker?.rollback === true || config?.alarms?.rollback === true;
  const live = (service.deployments ?? []).filter((d) => d.status !== "INACTIVE");
  const failed = live.find((d) => d.rolloutState === "FAILED");
  const rollingBack = live.find((d) => /rolling back/i.test(d.rolloutStateReason ?? ""));
  if (rollingBack) return `ECS is rolling back: ${rollingBack.rolloutStateReason}`;
  if (autoRollback && failed) {
    return `ECS's ${config?.deploymentCircuitBreaker?.rollback ? "circuit breaker" : "deployment alarms"} rolls back failed deployment ${failed.id ?? "?"} (${failed.rolloutStateReason ?? "no reason given"}): wait, do not fight it`;
  }
  return undefined;
}
