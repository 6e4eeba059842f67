import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { ValidationError } from "../lib/errors.js";
import { clusterName } from "../lib/iam.js";
import type { Report } from "../runbooks/types.js";
import type { System } from "../systems/schema.js";
import { createRuntime, parseEvent, type Runtime, runInLambda } from "./runtime.js";

/**
 * EventBridge "ECS Deployment State Change" (ECS events reference). `resources[0]` is the service ARN,
 * `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>`.
 */
export const ecsDeploymentEventSchema = z.looseObject({
  source: z.literal("aws.ecs"),
  "detail-type": z.literal("ECS Deployment State Change"),
  account: z.string().optional(),
  region: z.string().optional(),
  time: z.string().optional(),
  resources: z
    .array(z.string())
    .min(1, "must hold the service ARN")
    .refine((r) => r.some((a) => /:service\/[^/]+\/[^/]+$/.test(a)), {
      message: "must hold a service ARN of the form arn:aws:ecs:<region>:<account>:service/<cluster>/<service>",
    }),
  detail: z.looseObject({
    eventType: z.string().optional(),
    eventName: z.enum(["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"]),
    deploymentId: z.string().min(1),
    updatedAt: z.string().optional(),
    reason: z.string().optional(),
  }),
});

/** A parsed ECS deployment event. */
export type EcsDeploymentEvent = z.output<typeof ecsDeploymentEventSchema>;

/** The system and service an event's service ARN belongs to, or undefined. */
export function ownerOf(
  systems: readonly System[],
  event: EcsDeploymentEvent,
): { system: System; service: string } | undefined {
  for (const resource of event.resources) {
    const match = /^arn:aws[a-z-]*:ecs:([a-z0-9-]+):(\d{12}):service\/([^/]+)\/([^/]+)$/.exec(resource);
    if (!match) continue;
    const [, region, account, cluster, service] = match;
    const system = systems.find(
      (s) =>
        s.deploy &&
        s.runtime.kind === "ecs" &&
        s.account.region === region &&
        (s.account.accountId === undefined || s.account.accountId === account) &&
        clusterName(s.runtime.cluster) === cluster &&
        s.runtime.services.some((x) => x.name === service),
    );
    if (system && service) return { system, service };
  }
  return undefined;
}

/** The request an event becomes: a rollback (failed), a bake (completed), or nothing (in progress). */
export function requestOf(event: EcsDeploymentEvent, service: string) {
  const at = event.detail.updatedAt ?? event.time;
  const when = at && !Number.isNaN(Date.parse(at)) ? { at: new Date(at).toISOString() } : {};
  switch (event.detail.eventName) {
    case "SERVICE_DEPLOYMENT_FAILED":
      return {
        runbook: "rollback",
        input: {
          service,
          trigger: {
            kind: "deployment-failed",
            deploymentId: event.detail.deploymentId,
            ...(event.detail.reason ? { reason: event.detail.reason } : {}),
            ...when,
          },
        },
      };
    case "SERVICE_DEPLOYMENT_COMPLETED":
      return {
        runbook: "health-probe",
        input: { deploymentCompleted: { service, deploymentId: event.detail.deploymentId, ...when } },
      };
    default:
      return undefined;
  }
}

/**
 * Routes ECS deployment events: FAILED → `rollback` (whose guards wait when ECS's own circuit breaker rolls
 * back), COMPLETED → `health-probe` (starts the bake towards the last known-good). IN_PROGRESS is not
 * matched by the rule; delivered anyway, it is logged and ignored. A service of no system is rejected.
 */
export function createEcsEventHandler(runtime: Runtime) {
  const handler = async (event: unknown, context: Context): Promise<Report | undefined> => {
    const parsed = parseEvent(runtime, ecsDeploymentEventSchema, event, "ECS deployment");
    const owner = ownerOf(runtime.fleet.systems, parsed);
    if (!owner) {
      const error = new ValidationError(
        `ECS service ${parsed.resources.join(", ")} belongs to no deployed ECS system of the fleet`,
      );
      runtime.logger.error("rejected ECS deployment event", { error });
      throw error;
    }
    const request = requestOf(parsed, owner.service);
    if (!request) {
      runtime.logger.info("ignored ECS deployment event", {
        eventName: parsed.detail.eventName,
        system: owner.system.id,
      });
      return undefined;
    }
    return runInLambda(
      runtime,
      { ...request, system: owner.system.id, dryRun: false, requestedBy: `ecs-event:${parsed.detail.eventName}` },
      context,
    );
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/** Lambda entry point for the EventBridge rule on ECS "Deployment State Change" events. */
export const handler = createEcsEventHandler(createRuntime({}, process.env));
