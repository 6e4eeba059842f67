import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { type AwsFetchClient, awsFetchClientFromEnv } from "../lib/aws/fetch-client.js";
import { parseAccessTable } from "../lib/slack/access.js";
import { s3ApprovalStore } from "../lib/slack/approvals.js";
import { s3SlackAudit } from "../lib/slack/audit.js";
import { type CommandLogger, createCommandHandler, type Result, type SlackCommandDeps } from "../lib/slack/command.js";
import { slackGroupLookup } from "../lib/slack/groups.js";
import { interaction } from "../lib/slack/interaction.js";
import { memoryReplayGuard, type ReplayGuard, s3ReplayGuard } from "../lib/slack/replay.js";

/**
 * The `/ops` slash command behind a Lambda Function URL (page: functions/slack.md). This file only
 * builds the handler from the environment the deployment plan sets (deploy/slack.ts); what it decides
 * is in lib/slack/command.ts and lib/slack/interaction.ts. AWS is reached through lib/aws/fetch-client.ts
 * (SigV4 over fetch), not the SDK: the bundle stays small, and cold start is what misses Slack's 3 s.
 */

export type { CommandLogger, SlackCommandDeps, WorkerEvent } from "../lib/slack/command.js";
export { RUN_ACTION_PREFIX } from "../lib/slack/interaction.js";

/** The handler over its dependencies (tests and the benchmark pass their own). */
export function createSlackCommandHandler(deps: SlackCommandDeps) {
  return createCommandHandler(deps, interaction);
}

/** JSON lines on stdout (CloudWatch), like Powertools' records, without loading Powertools. */
const stdoutLogger: CommandLogger = {
  info: (message, fields) =>
    console.log(JSON.stringify({ level: "INFO", message, service: "ops-autopilot", ...fields })),
  warn: (message, fields) =>
    console.log(JSON.stringify({ level: "WARN", message, service: "ops-autopilot", ...fields })),
  error: (message, fields) =>
    console.log(JSON.stringify({ level: "ERROR", message, service: "ops-autopilot", ...fields })),
};

/** Reads `{"signingSecret":"…","token":"…"}` once per container (Secrets Manager), lazily. */
function secretReader(aws: AwsFetchClient, secretId: string) {
  let value: Promise<Record<string, string>> | undefined;
  return (field: "signingSecret" | "token") => {
    value ??= aws.getSecretString(secretId).then((s) => JSON.parse(s) as Record<string, string>);
    value.catch(() => {
      // A failed read is retried by the next request rather than remembered for the container's life.
      value = undefined;
    });
    return value.then((v) => {
      const found = v[field];
      if (!found) throw new Error(`secret ${secretId} holds no "${field}"`);
      return found;
    });
  };
}

/** `OPS_SLACK_APPROVAL_MINUTES`: 1–1440, default 30. */
function approvalMinutes(env: Record<string, string | undefined>): number {
  const ttlMinutes = Number(env.OPS_SLACK_APPROVAL_MINUTES ?? "30");
  if (!Number.isInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > 1440) {
    throw new Error(
      `OPS_SLACK_APPROVAL_MINUTES must be a whole number of minutes from 1 to 1440 (got "${env.OPS_SLACK_APPROVAL_MINUTES}")`,
    );
  }
  return ttlMinutes;
}

/** The handler from the function's environment (set by the deployment plan, deploy/slack.ts). */
export function slackHandlerFromEnv(env: Record<string, string | undefined>, aws = awsFetchClientFromEnv(env)) {
  const table = parseAccessTable(env.OPS_SLACK_ACCESS);
  if (!env.OPS_SLACK_SECRET_ID) throw new Error("OPS_SLACK_SECRET_ID is required: the secret with the signing secret");
  const secret = secretReader(aws, env.OPS_SLACK_SECRET_ID);
  const now = () => new Date();
  const memory = memoryReplayGuard({ now });
  const bucket = env.OPS_SLACK_REPLAY_BUCKET;
  const replay: ReplayGuard = bucket ? s3ReplayGuard({ s3: aws, bucket, prefix: "slack/seen", memory }) : memory;
  const approvals = bucket
    ? {
        store: s3ApprovalStore({ s3: aws, bucket, prefix: "slack/approvals" }),
        ttlMinutes: approvalMinutes(env),
        newId: () => crypto.randomUUID(),
      }
    : undefined;
  const audit = env.OPS_AUDIT_BUCKET
    ? s3SlackAudit({ s3: aws, bucket: env.OPS_AUDIT_BUCKET, knownSystems: Object.keys(table.systems) })
    : undefined;
  return createSlackCommandHandler({
    table,
    signingSecret: () => secret("signingSecret"),
    replay,
    lambda: aws,
    logger: stdoutLogger,
    now,
    groupsOf: slackGroupLookup({
      token: () => secret("token"),
      now,
      ...(env.OPS_SLACK_API_URL ? { apiUrl: env.OPS_SLACK_API_URL } : {}),
    }),
    ...(env.OPS_SLACK_RESPONSE_URL_PREFIX ? { responseUrlPrefix: env.OPS_SLACK_RESPONSE_URL_PREFIX } : {}),
    ...(approvals ? { approvals } : {}),
    ...(audit ? { audit } : {}),
  });
}

let built: ReturnType<typeof createSlackCommandHandler> | undefined;

/** Lambda entry point (Function URL). */
export const handler = async (event: APIGatewayProxyEventV2): Promise<Result> => {
  built ??= slackHandlerFromEnv(process.env);
  return built(event);
};
