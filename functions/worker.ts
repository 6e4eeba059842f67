import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { booleanish } from "../runbooks/inputs.js";
import type { Report } from "../runbooks/types.js";
import { createRuntime, parseEvent, type Runtime, runInLambda } from "./runtime.js";

/** Asynchronous invocation (from Slack, an alarm router, a person): who asked is required. */
export const workerEventSchema = z.strictObject({
  runbook: z.string().min(1),
  system: z.string().min(1),
  input: z.record(z.string(), z.unknown()).default({}),
  requestedBy: z.string().min(1),
  dryRun: booleanish.default(false),
});

/** Builds the worker handler over a runtime (tests pass their own). */
export function createWorkerHandler(runtime: Runtime) {
  const handler = async (event: unknown, context: Context): Promise<Report> => {
    const parsed = parseEvent(runtime, workerEventSchema, event, "worker");
    return runInLambda(runtime, parsed, context);
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/**
 * Lambda entry point for asynchronous invocations. The runtime (catalogue, environment) is validated when the module
 * loads, so a bad deployment fails at cold start, not at 3 AM.
 */
export const handler = createWorkerHandler(createRuntime({}, process.env));
