import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { errorMessage } from "../lib/errors.js";
import { reportMessage } from "../lib/notify/blocks.js";
import type { SlackMessage } from "../lib/notify/slack.js";
import { formatReportLine } from "../lib/notify.js";
import { type ApprovalRef, approvalRequestMessage } from "../lib/slack/approvals.js";
import { postToResponseUrl } from "../lib/slack/respond.js";
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
  /** Slack slash command's `response_url`: the report (or why the run failed) is posted there. */
  responseUrl: z.url().optional(),
  /** This dry run is the plan of an approval request (lib/slack/command.ts): posted with the Approve button. */
  approval: z.strictObject({ id: z.uuid(), requester: z.string().min(1), expiresAt: z.iso.datetime() }).optional(),
  /** `line`: post the report's one-line summary (`/ops status` of the fleet: one line per system). */
  reply: z.literal("line").optional(),
});

/** Where a worker may post a report: Slack's response URLs (`OPS_SLACK_RESPONSE_URL_PREFIX` in tests). */
const RESPONSE_URL_PREFIX = "https://hooks.slack.com/";

/** Builds the worker handler over a runtime (tests pass their own). */
export function createWorkerHandler(runtime: Runtime) {
  const handler = async (event: unknown, context: Context): Promise<Report> => {
    const { responseUrl, approval, reply, ...parsed } = parseEvent(runtime, workerEventSchema, event, "worker");
    if (!responseUrl) return runInLambda(runtime, parsed, context);
    let report: Report;
    try {
      report = await runInLambda(runtime, parsed, context);
    } catch (error) {
      await respond(runtime, responseUrl, {
        text: `🔴 ${parsed.runbook} on ${parsed.system} did not run: ${errorMessage(error)}`,
        blocks: [],
      });
      throw error;
    }
    await respond(runtime, responseUrl, replyOf(report, { approval, reply, input: parsed.input }));
    return report;
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/** The report as posted: whole, as one line, or as the plan of an approval request with its button. */
function replyOf(
  report: Report,
  options: { approval?: ApprovalRef | undefined; reply?: "line" | undefined; input: Record<string, unknown> },
): SlackMessage {
  if (options.reply === "line") return { text: formatReportLine(report), blocks: [] };
  const message = reportMessage(report);
  if (!options.approval || !report.dryRun) return message;
  const input = Object.fromEntries(Object.entries(options.input).map(([k, v]) => [k, String(v)]));
  return approvalRequestMessage({
    approval: { ...options.approval, runbook: report.runbook, system: report.system, input },
    plan: message,
    planSucceeded: report.status === "succeeded",
  });
}

/** Posts to the response URL; a failure to post is logged and does not fail the run that already happened. */
async function respond(runtime: Runtime, url: string, message: Parameters<typeof postToResponseUrl>[0]["message"]) {
  try {
    await postToResponseUrl({
      url,
      message,
      inChannel: true,
      allowedPrefix: runtime.env.OPS_SLACK_RESPONSE_URL_PREFIX ?? RESPONSE_URL_PREFIX,
    });
  } catch (error) {
    runtime.logger.error("report not posted to the Slack response URL", { error: errorMessage(error) });
  }
}

/**
 * Lambda entry point for asynchronous invocations. The runtime (catalogue, environment) is validated when the module
 * loads, so a bad deployment fails at cold start, not at 3 AM.
 */
export const handler = createWorkerHandler(createRuntime({}, process.env));
