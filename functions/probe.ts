import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { booleanish } from "../runbooks/inputs.js";
import type { Report } from "../runbooks/types.js";
import { createRuntime, parseEvent, type Runtime, runInLambda } from "./runtime.js";

/**
 * EventBridge Scheduler payload of a probe schedule (`schedules/health-probe.ts`): the scheduled handler's
 * shape, for the `health-probe` runbook only.
 */
export const probeEventSchema = z.looseObject({
  runbook: z.literal("health-probe").default("health-probe"),
  system: z.string().min(1),
  dryRun: booleanish.default(false),
  scheduleId: z.string().optional(),
});

/**
 * The health probe's entry point: runs `health-probe` for one system (sampling, consecutive counts on the
 * service, rollback at the threshold, bake checks). The evaluation itself is `lib/health/evaluate.ts`.
 */
export function createProbeHandler(runtime: Runtime) {
  const handler = async (event: unknown, context: Context): Promise<Report> => {
    const parsed = parseEvent(runtime, probeEventSchema, event, "probe");
    return runInLambda(
      runtime,
      {
        runbook: "health-probe",
        system: parsed.system,
        input: {},
        dryRun: parsed.dryRun,
        requestedBy: `schedule:${parsed.scheduleId ?? `${parsed.system}-health-probe`}`,
      },
      context,
    );
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/** Lambda entry point for the probe schedules. */
export const handler = createProbeHandler(createRuntime({}, process.env));
