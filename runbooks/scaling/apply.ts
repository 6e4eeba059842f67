import {
  type ApplicationAutoScalingClient,
  RegisterScalableTargetCommand,
} from "@aws-sdk/client-application-auto-scaling";
import { type ECSClient, TagResourceCommand, UntagResourceCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { type RetryOptions, retryThrottled } from "../../lib/retry.js";
import type { StepLog } from "./backend.js";
import { type ScaleDownDecision, type ScaleUpDecision, sameBounds } from "./decide.js";
import { ECS_DESIRED_COUNT, type ServiceSnapshot, scalableResourceId } from "./ecs.js";
import { ScalingStepError } from "./errors.js";
import { type Bounds, type Capacity, formatRecord, isoSeconds, KEEP_AWAKE_TAG, RECORD_TAG } from "./tags.js";

/** The clients and settings the changes go through. */
export interface Actuator {
  ecs: ECSClient;
  autoscaling: ApplicationAutoScalingClient;
  cluster: string;
  retry: RetryOptions;
}

export type { StepLog } from "./backend.js";

async function step<T>(actuator: Actuator, log: StepLog, name: string, service: string, call: () => Promise<T>) {
  try {
    const out = await retryThrottled(call, actuator.retry);
    log.done.push(name);
    return out;
  } catch (error) {
    throw new ScalingStepError({ step: name, service, cause: error });
  }
}

function setBounds(actuator: Actuator, log: StepLog, service: ServiceSnapshot, bounds: Bounds) {
  return step(actuator, log, "RegisterScalableTarget", service.name, () =>
    actuator.autoscaling.send(
      new RegisterScalableTargetCommand({
        ServiceNamespace: "ecs",
        ResourceId: scalableResourceId(actuator.cluster, service.name),
        ScalableDimension: ECS_DESIRED_COUNT,
        MinCapacity: bounds.min,
        MaxCapacity: bounds.max,
      }),
    ),
  );
}

function setDesired(actuator: Actuator, log: StepLog, service: ServiceSnapshot, desired: number) {
  return step(actuator, log, "UpdateService", service.name, () =>
    actuator.ecs.send(
      new UpdateServiceCommand({ cluster: actuator.cluster, service: service.name, desiredCount: desired }),
    ),
  );
}

/**
 * Moves a service to `target`: the bounds first (else autoscaling would pull the desired count back inside
 * the old ones), then the desired count; each only when it differs from what was read.
 */
async function applyCapacity(actuator: Actuator, service: ServiceSnapshot, target: Capacity, log: StepLog) {
  if (target.bounds && !sameBounds(service.capacity.bounds, target.bounds)) {
    await setBounds(actuator, log, service, target.bounds);
  }
  if (target.desired !== service.capacity.desired) await setDesired(actuator, log, service, target.desired);
}

/**
 * Carries out a scale-down: record first (so the original survives whatever fails next), then the
 * autoscaling bounds (else autoscaling would scale back up), then the desired count.
 */
export async function lowerService(
  actuator: Actuator,
  service: ServiceSnapshot,
  decision: Extract<ScaleDownDecision, { kind: "lower" }>,
  log: StepLog = { done: [] },
): Promise<void> {
  if (decision.write) {
    const value = formatRecord(decision.write);
    await step(actuator, log, "TagResource", service.name, () =>
      actuator.ecs.send(new TagResourceCommand({ resourceArn: service.arn, tags: [{ key: RECORD_TAG, value }] })),
    );
  }
  await applyCapacity(actuator, service, decision.target, log);
}

/**
 * Carries out a scale-up: bounds first (a restored desired count above the night's max would be clamped
 * back), then the desired count, and only then removes the record — if anything before fails, the record
 * stays and the next run restores from it.
 */
export async function restoreService(
  actuator: Actuator,
  service: ServiceSnapshot,
  decision: Extract<ScaleUpDecision, { kind: "restore" }>,
  log: StepLog = { done: [] },
): Promise<void> {
  await applyCapacity(actuator, service, decision.target, log);
  await step(actuator, log, "UntagResource", service.name, () =>
    actuator.ecs.send(new UntagResourceCommand({ resourceArn: service.arn, tagKeys: [RECORD_TAG] })),
  );
}

/** Sets (or moves) the keep-awake override on a service. */
export async function setKeepAwake(actuator: Actuator, service: ServiceSnapshot, until: Date): Promise<void> {
  await step(actuator, { done: [] }, "TagResource", service.name, () =>
    actuator.ecs.send(
      new TagResourceCommand({ resourceArn: service.arn, tags: [{ key: KEEP_AWAKE_TAG, value: isoSeconds(until) }] }),
    ),
  );
}

/** Removes the keep-awake override from a service. */
export async function clearKeepAwake(actuator: Actuator, service: ServiceSnapshot): Promise<void> {
  await step(actuator, { done: [] }, "UntagResource", service.name, () =>
    actuator.ecs.send(new UntagResourceCommand({ resourceArn: service.arn, tagKeys: [KEEP_AWAKE_TAG] })),
  );
}
