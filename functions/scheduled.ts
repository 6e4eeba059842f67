import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { booleanish } from "../runbooks/inputs.js";
import type { Report } from "../runbooks/types.js";
import { createRuntime, parseEvent, type Runtime, runInLambda } from "./runtime.js";

/**
 * EventBridge Scheduler payload. SST's cron passes string values only, so `input` may arrive as a
 * JSON string; a direct invocation may send an object.
 */
export const scheduledEventSchema = z.strictObject({
  runbook: z.string().min(1),
  system: z.string().min(1),
  input: z.preprocess(
    (value, ctx) => {
      if (typeof value !== "string") return value;
      try {
        return JSON.parse(value || "{}") as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "input must be a JSON object (or a JSON string of one)" });
        return z.NEVER;
      }
    },
    z.record(z.string(), z.unknown(), { message: "input must be a JSON object (or a JSON string of one)" }).default({}),
  ),
  dryRun: booleanish.default(false),
  scheduleId: z.string().optional(),
});

/** Builds the scheduled handler over a runtime (tests pass their own). */
export function createScheduledHandler(runtime: Runtime) {
  const handler = async (event: unknown, context: Context): Promise<Report> => {
    const parsed = parseEvent(runtime, scheduledEventSchema, event, "scheduled");
    return runInLambda(
      runtime,
      {
        runbook: parsed.runbook,
        system: parsed.system,
        input: parsed.input,
        dryRun: parsed.dryRun,
        requestedBy: `schedule:${parsed.scheduleId ?? `${parsed.system}-${parsed.runbook}`}`,
      },
      context,
    );
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/**
 * Lambda entry point for EventBridge Scheduler. The runtime (catalogue, environment) is validated when the module
 * loads, so a bad deployment fails at cold start, not at 3 AM.
 */
export const handler = createScheduledHandler(createRuntime({}, process.env));
