import type { Context } from "aws-lambda";
import { z } from "zod";
import { type AwsFetchClient, awsFetchClientFromEnv } from "../lib/aws/fetch-client.js";
import { ValidationError } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import { createSlackPoster, type SlackPoster } from "../lib/notify/slack.js";
import { booleanish } from "../lib/settings.js";
import { s3ApprovalStore } from "../lib/slack/approvals.js";
import { s3SlackAudit } from "../lib/slack/audit.js";
import type { CommandLogger } from "../lib/slack/command.js";
import { type ExpiryReport, sweepApprovals } from "../lib/slack/expiry.js";

/**
 * The approvals' expiry sweep on its schedule (page: functions/approval-expiry.md). This file only
 * validates the event and the environment and builds the sweep's dependencies; the rules are in
 * lib/slack/expiry.ts. AWS is reached like the `/ops` function does (lib/aws/fetch-client.ts), with the
 * same bucket, audit bucket and bot token.
 */

/** The schedule's payload: `{scheduleId}`; a person may invoke it with `{"dryRun": true}`. Nothing else. */
export const expiryEventSchema = z.strictObject({
  dryRun: booleanish.optional(),
  scheduleId: z.string().min(1).optional(),
});

/** The environment the deployment plan sets (deploy/slack.ts). */
const expiryEnvSchema = z.object({
  OPS_SLACK_REPLAY_BUCKET: z.string().min(3, "the Slack state bucket (where slack/approvals/ is) is required"),
  OPS_AUDIT_BUCKET: z.string().min(3, "the audit bucket is required: an expiry is never unrecorded"),
  OPS_SLACK_SECRET_ID: z.string().min(1, 'the secret with the bot token ({"token":"xoxb-…"}) is required'),
  OPS_SLACK_SYSTEMS: z
    .string()
    .regex(/^[a-z0-9-]+(,[a-z0-9-]+)*$/, "must be system ids separated by commas (the Slack table's systems)"),
  OPS_SLACK_API_URL: z.url().optional(),
  OPS_DRY_RUN: booleanish.default(false),
});

/**
 * The sweep's Slack calls: one retry after 1 s, 3 s per attempt (7 s at worst), not the poster's default
 * (3 retries, 10 s: 47 s), because the deadline is checked between records only and one record must fit
 * in the margin below. A `chat.update` that fails here is repeated by the next run (`messageClosedAt`).
 */
export const EXPIRY_SLACK_CALLS = { retries: 1, minTimeoutMs: 1_000, timeoutMs: 3_000 } as const;

/** One record at worst: the token read and 4 S3 calls (read, expire, audit, progress) at lib/aws/fetch-client's 2 s each, and the Slack call. */
const RECORD_WORST_MS =
  5 * 2_000 +
  (EXPIRY_SLACK_CALLS.retries + 1) * EXPIRY_SLACK_CALLS.timeoutMs +
  EXPIRY_SLACK_CALLS.minTimeoutMs * (2 ** EXPIRY_SLACK_CALLS.retries - 1);

/** How long before the Lambda deadline the sweep stops starting records: one record's worst case and 3 s for the report. */
export const EXPIRY_DEADLINE_MARGIN_MS = RECORD_WORST_MS + 3_000;

/** What the sweep is built from; tests pass their own. */
export interface ExpiryHandlerDeps {
  aws: Pick<AwsFetchClient, "putObject" | "getObject" | "listObjects">;
  slack: Pick<SlackPoster, "update">;
  bucket: string;
  auditBucket: string;
  knownSystems: readonly string[];
  now: () => Date;
  logger: CommandLogger;
  /** The deployment's `OPS_DRY_RUN`: every run a dry run. */
  dryRun?: boolean;
}

const issuesOf = (error: z.ZodError, root: string) =>
  error.issues.map((i) => ({ path: i.path.join(".") || root, message: i.message }));

/** The event, or a ValidationError naming each bad field and what is allowed. Nothing is read before. */
export function parseExpiryEvent(event: unknown): z.output<typeof expiryEventSchema> {
  const parsed = expiryEventSchema.safeParse(event ?? {});
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    'invalid approval-expiry event (allowed: {"dryRun": true|false, "scheduleId": "<id>"})',
    issuesOf(parsed.error, "(event)"),
  );
}

/** Builds the handler: parse, sweep, log and return the report. */
export function createExpiryHandler(deps: ExpiryHandlerDeps) {
  return async (event: unknown, context?: Pick<Context, "getRemainingTimeInMillis">): Promise<ExpiryReport> => {
    let parsed: z.output<typeof expiryEventSchema>;
    try {
      parsed = parseExpiryEvent(event);
    } catch (error) {
      deps.logger.error("rejected approval-expiry event", { error: (error as Error).message });
      throw error;
    }
    const report = await sweepApprovals({
      store: s3ApprovalStore({ s3: deps.aws, bucket: deps.bucket, prefix: "slack/approvals" }),
      audit: s3SlackAudit({ s3: deps.aws, bucket: deps.auditBucket, knownSystems: deps.knownSystems }),
      slack: deps.slack,
      now: deps.now,
      logger: deps.logger,
      dryRun: parsed.dryRun === true || deps.dryRun === true,
      // Stop between records while one more still fits before the Lambda deadline: the rest is the next run's.
      ...(context
        ? { signal: AbortSignal.timeout(Math.max(0, context.getRemainingTimeInMillis() - EXPIRY_DEADLINE_MARGIN_MS)) }
        : {}),
    });
    deps.logger.info("approval expiry report", { report });
    return report;
  };
}

/** The bot token from `{"token":"xoxb-…"}` (the `/ops` secret), read once per container. */
function tokenReader(aws: Pick<AwsFetchClient, "getSecretString">, secretId: string): () => Promise<string> {
  let token: Promise<string> | undefined;
  return () => {
    token ??= aws.getSecretString(secretId).then((text) => {
      const value = (JSON.parse(text) as Record<string, unknown>).token;
      if (typeof value !== "string" || !value) throw new ValidationError(`secret ${secretId} holds no "token"`);
      return value;
    });
    token.catch(() => {
      token = undefined;
    });
    return token;
  };
}

/** The handler from the function's environment; a bad value is named with what is allowed. */
export function expiryHandlerFromEnv(env: Record<string, string | undefined>, aws = awsFetchClientFromEnv(env)) {
  const parsed = expiryEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ValidationError("invalid approval-expiry environment", issuesOf(parsed.error, "(environment)"));
  }
  const settings = parsed.data;
  return createExpiryHandler({
    aws,
    slack: createSlackPoster({
      token: tokenReader(aws, settings.OPS_SLACK_SECRET_ID),
      ...EXPIRY_SLACK_CALLS,
      ...(settings.OPS_SLACK_API_URL ? { apiUrl: settings.OPS_SLACK_API_URL } : {}),
    }),
    bucket: settings.OPS_SLACK_REPLAY_BUCKET,
    auditBucket: settings.OPS_AUDIT_BUCKET,
    knownSystems: settings.OPS_SLACK_SYSTEMS.split(","),
    now: () => new Date(),
    logger: structuredLogger(),
    dryRun: settings.OPS_DRY_RUN,
  });
}

/** Powertools' logger behind the sweep's three methods (structured fields, never concatenated). */
function structuredLogger(): CommandLogger {
  const logger = createLogger();
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

let built: ReturnType<typeof createExpiryHandler> | undefined;

/** Lambda entry point (the EventBridge schedule of deploy/slack.ts). */
export const handler = async (event: unknown, context: Context): Promise<ExpiryReport> => {
  built ??= expiryHandlerFromEnv(process.env);
  return built(event, context);
};
