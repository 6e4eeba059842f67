import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { awsFetchClientFromEnv } from "../lib/aws/fetch-client.js";
import { errorMessage } from "../lib/errors.js";
import { reportMessage } from "../lib/notify/blocks.js";
import type { SlackMessage } from "../lib/notify/slack.js";
import { createSlackPoster } from "../lib/notify/slack.js";
import { formatReportLine } from "../lib/notify.js";
import {
  type ApprovalPosting,
  type ApprovalPostOutcome,
  type ApprovalRef,
  approvalRequestMessage,
  botTokenOf,
  postApprovalRequest,
  s3ApprovalStore,
} from "../lib/slack/approvals.js";
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
  approval: z
    .strictObject({
      id: z.uuid(),
      requester: z.string().min(1),
      expiresAt: z.iso.datetime(),
      channel: z.string().min(1).optional(),
    })
    .optional(),
  /** `line`: post the report's one-line summary (`/ops status` of the fleet: one line per system). */
  reply: z.literal("line").optional(),
});

/** Where a worker may post a report: Slack's response URLs (`OPS_SLACK_RESPONSE_URL_PREFIX` in tests). */
const RESPONSE_URL_PREFIX = "https://hooks.slack.com/";

/**
 * Posting approval requests with the bot token, from the environment the plan sets on the workers of
 * destructive runbooks that Slack may apply (`OPS_SLACK_APPROVALS_BUCKET`, `OPS_SLACK_APPROVALS_SECRET_ID`: the
 * `/ops` app's bot-token-only secret, `…/slack-bot`, never the one with the signing secret); absent:
 * requests go through the response URL as before, and the expiry sweep cannot replace them.
 */
export function approvalPostingFromEnv(env: Readonly<Record<string, string | undefined>>): ApprovalPosting | undefined {
  const bucket = env.OPS_SLACK_APPROVALS_BUCKET;
  const secretId = env.OPS_SLACK_APPROVALS_SECRET_ID;
  if (!bucket || !secretId) return undefined;
  const aws = awsFetchClientFromEnv({ ...env });
  const token = async () => {
    const value = botTokenOf(await aws.getSecretString(secretId));
    if (!value) throw new Error(`secret ${secretId} holds no bot token: approval requests go through the response URL`);
    return value;
  };
  return {
    slack: createSlackPoster({
      token,
      retries: 2,
      ...(env.OPS_SLACK_API_URL ? { apiUrl: env.OPS_SLACK_API_URL } : {}),
    }),
    store: s3ApprovalStore({ s3: aws, bucket, prefix: "slack/approvals" }),
  };
}

/** Builds the worker handler over a runtime (tests pass their own, and their own approval posting). */
export function createWorkerHandler(
  runtime: Runtime,
  options: { approvalPosting?: ApprovalPosting } = { ...optionalPosting(runtime) },
) {
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
    const message = replyOf(report, { approval, reply, input: parsed.input });
    if (approval?.channel && report.dryRun && options.approvalPosting) {
      const outcome = await postApprovalRequest(options.approvalPosting, {
        id: approval.id,
        channel: approval.channel,
        message,
      }).catch((error: unknown) => ({ posted: false as const, reason: errorMessage(error) }));
      logPosting(runtime, approval.id, outcome);
      // Posted is final: a second request message would carry a second live Approve button.
      if (outcome.posted) return report;
    }
    await respond(runtime, responseUrl, message);
    return report;
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/** A request posted but not recorded is a warning: the sweep cannot replace that message when it expires. */
function logPosting(runtime: Runtime, id: string, outcome: ApprovalPostOutcome) {
  const fields = { approval: id, ...outcome };
  if (!outcome.posted) runtime.logger.warn("approval request not posted by the bot: through the response URL", fields);
  else if (!outcome.recorded) runtime.logger.warn("approval request posted, its ts not recorded", fields);
  else runtime.logger.info("approval request posted", fields);
}

function optionalPosting(runtime: Runtime): { approvalPosting?: ApprovalPosting } {
  const posting = approvalPostingFromEnv(runtime.env);
  return posting ? { approvalPosting: posting } : {};
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
