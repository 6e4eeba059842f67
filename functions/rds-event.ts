import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { ValidationError } from "../lib/errors.js";
import { instanceIdOfEvent, rdsInstanceEventSchema } from "../runbooks/drill-continue/events.js";
import { findDrillOwner } from "../runbooks/restore-drill/names.js";
import type { Report } from "../runbooks/types.js";
import { createRuntime, parseEvent, type Runtime, runInLambda } from "./runtime.js";

/**
 * EventBridge "RDS DB Instance Event" of a drill's scratch instance: the second half of an RDS restore
 * drill (`drill-continue`). The owning system is read from the instance id; an event for an instance
 * that belongs to no system of the fleet is rejected and nothing runs.
 */
export function createRdsEventHandler(runtime: Runtime) {
  const handler = async (event: unknown, context: Context): Promise<Report> => {
    const { detail } = parseEvent(runtime, rdsInstanceEventSchema, event, "RDS instance");
    const instanceId = instanceIdOfEvent(detail);
    const owner = findDrillOwner(runtime.fleet.systems, instanceId);
    if (!owner) {
      const error = new ValidationError(
        `RDS instance "${instanceId}" is not a drill instance of any system of the fleet`,
      );
      runtime.logger.error("rejected RDS instance event", { error });
      throw error;
    }
    return runInLambda(
      runtime,
      { runbook: "drill-continue", system: owner.system.id, input: detail, dryRun: false, requestedBy: "rds-event" },
      context,
    );
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/** Lambda entry point for the EventBridge rule on RDS instance events of drill instances. */
export const handler = createRdsEventHandler(createRuntime({}, process.env));
