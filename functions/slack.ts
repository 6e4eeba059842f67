import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import {
  authorize,
  helpText,
  listText,
  parseAccessTable,
  parseSlashCommand,
  planText,
  type SlackAccessTable,
  type SlashCommand,
} from "../lib/slack/access.js";
import {
  APPROVE_ACTION,
  type Approval,
  type ApprovalStore,
  approvalRequestMessage,
  checkApproval,
} from "../lib/slack/approvals.js";
import type { ReplayGuard } from "../lib/slack/replay.js";
import { postToResponseUrl } from "../lib/slack/respond.js";

/**
 * The action id prefix of an alarm's run buttons, as lib/notify/blocks.ts writes them. Not imported from
 * there: that module loads the redactor and report formatting, which the cold start does not need (a
 * test checks that the two agree).
 */
export const RUN_ACTION_PREFIX = "ops-run:";

import { verifySlackSignature } from "../lib/slack/verify.js";

/**
 * The `/ops` slash command behind a Lambda Function URL. In order: the Slack signature and timestamp
 * (before the body is parsed), the replay guard, the command, the catalogue's authorization; then the
 * runbook's worker is invoked asynchronously (`InvocationType: Event`) and Slack gets its answer at once,
 * well inside its 3 s. The worker posts the report to the command's `response_url`.
 *
 * Deliberately small imports (no zod, no catalogue, no middy, no Powertools): cold start is what misses
 * Slack's 3 s (bolt-js #1643). The access table comes from the deployment plan as JSON.
 */

/** The few log methods used here: structured fields, never the body. */
export interface CommandLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What the handler needs; tests pass their own. */
export interface SlackCommandDeps {
  table: SlackAccessTable;
  signingSecret: () => Promise<string>;
  replay: ReplayGuard;
  lambda: Pick<LambdaClient, "send">;
  logger: CommandLogger;
  now: () => Date;
  /** The groups among `groups` that a user is in (Slack's usergroups API); absent: groups grant nothing. */
  groupsOf?: (userId: string, groups: string[]) => Promise<string[]>;
  /** Response URLs must start with this (`https://hooks.slack.com/`); a local server in tests. */
  responseUrlPrefix?: string;
  /** Approvals of applied destructive runbooks; absent: `--apply` of a destructive runbook is refused. */
  approvals?: { store: ApprovalStore; ttlMinutes: number; newId: () => string };
}

/** The message a worker event carries to the worker (its `workerEventSchema`). */
export interface WorkerEvent {
  runbook: string;
  system: string;
  input: Record<string, string>;
  requestedBy: string;
  dryRun: boolean;
  responseUrl: string;
}

type Result = APIGatewayProxyStructuredResultV2;

const json = (body: unknown): Result => ({
  statusCode: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const ephemeral = (text: string) => json({ response_type: "ephemeral", text });
/** Slack shows nothing for a non-200; the caller (not Slack, or a replay) learns only that it was refused. */
const refused = (): Result => ({ statusCode: 401, headers: { "content-type": "text/plain" }, body: "refused" });

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  return headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

/** Builds the Function URL handler. */
export function createSlackCommandHandler(deps: SlackCommandDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<Result> => {
    const rawBody = event.isBase64Encoded
      ? Buffer.from(event.body ?? "", "base64").toString("utf8")
      : (event.body ?? "");
    const where = { sourceIp: event.requestContext?.http?.sourceIp, bodyBytes: Buffer.byteLength(rawBody) };
    const verified = verifySlackSignature({
      signingSecret: await deps.signingSecret(),
      signature: header(event, "x-slack-signature"),
      timestamp: header(event, "x-slack-request-timestamp"),
      rawBody,
      now: deps.now(),
    });
    if (!verified.ok) {
      deps.logger.warn("refused slack request", { reason: verified.reason, ...where });
      return refused();
    }
    if (!(await deps.replay.firstSeen(verified.signature, verified.timestamp))) {
      deps.logger.warn("refused slack request", { reason: "replayed", ...where });
      return refused();
    }
    const form = new URLSearchParams(rawBody);
    if (form.get("ssl_check") === "1") return { statusCode: 200, body: "" };
    const interactive = form.get("payload");
    if (interactive !== null) return interaction(deps, interactive);
    const who = { userId: form.get("user_id") ?? "", channelId: form.get("channel_id") ?? "" };
    const command = parseSlashCommand(form.get("text") ?? "");
    switch (command.kind) {
      case "help":
        return ephemeral(helpText());
      case "list":
        return ephemeral(listText(deps.table, who));
      case "plan":
        return ephemeral(planText(deps.table, command.system));
      case "status":
        return ephemeral(
          "`/ops status` is not available yet; in the CLI, `ops plan --system <id>` and `ops drill-history` show part of it",
        );
      case "invalid":
        return ephemeral(command.message);
      case "run":
        return run(deps, command, {
          ...who,
          responseUrl: form.get("response_url") ?? "",
          triggerId: form.get("trigger_id"),
        });
    }
  };
}

async function run(
  deps: SlackCommandDeps,
  command: Extract<SlashCommand, { kind: "run" }>,
  who: { userId: string; channelId: string; responseUrl: string; triggerId: string | null },
): Promise<Result> {
  const fields = {
    user: who.userId,
    channel: who.channelId,
    runbook: command.runbook,
    system: command.system,
    apply: command.apply,
  };
  const prefix = deps.responseUrlPrefix ?? "https://hooks.slack.com/";
  if (!who.userId || !who.channelId || !who.responseUrl.startsWith(prefix)) {
    deps.logger.warn("refused slack command", { ...fields, reason: "missing user_id, channel_id or response_url" });
    return ephemeral("This request lacks user_id, channel_id or a Slack response_url: nothing was run.");
  }
  const groupsOf = deps.groupsOf;
  const decision = await authorize(
    deps.table,
    command,
    { ...who, ...(groupsOf ? { groupsOf: (groups: string[]) => groupsOf(who.userId, groups) } : {}) },
    { approvals: Boolean(deps.approvals) },
  );
  if (!decision.allowed) {
    deps.logger.warn("refused slack command", { ...fields, reason: decision.reason });
    return ephemeral(`Refused: ${decision.reason}. Nothing was run.`);
  }
  if (decision.needsApproval && deps.approvals) {
    return requestApproval(deps, deps.approvals, command, { ...who, worker: decision.worker });
  }
  const payload: WorkerEvent = {
    runbook: command.runbook,
    system: command.system,
    input: command.input,
    requestedBy: `slack:${who.userId}`,
    dryRun: decision.dryRun,
    responseUrl: who.responseUrl,
  };
  if (!(await invokeWorker(deps, decision.worker, payload, fields))) {
    return ephemeral(`Could not start ${command.runbook} on ${command.system}: the worker could not be invoked.`);
  }
  // Audit: who, what, where, when, and how it was decided (the run's own records follow in the worker).
  deps.logger.info("slack command accepted", {
    ...fields,
    dryRun: decision.dryRun,
    worker: decision.worker,
    inputKeys: Object.keys(command.input),
    triggerId: who.triggerId,
    at: deps.now().toISOString(),
  });
  const mode = decision.dryRun ? " as a dry run" : "";
  return ephemeral(`Accepted: ${command.runbook} on ${command.system}${mode}. The report will be posted here.`);
}

/** Starts the worker asynchronously; false (logged) when Lambda refused the invocation. */
async function invokeWorker(
  deps: SlackCommandDeps,
  worker: string,
  payload: WorkerEvent,
  fields: Record<string, unknown>,
): Promise<boolean> {
  try {
    await deps.lambda.send(
      new InvokeCommand({
        FunctionName: worker,
        InvocationType: "Event",
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    return true;
  } catch (error) {
    deps.logger.error("slack command not started", { ...fields, error: (error as Error)?.name ?? String(error) });
    return false;
  }
}

/**
 * An applied destructive runbook: the approval is stored (pending, with its expiry), the dry run is
 * started so that its plan is posted in the channel, and the channel is shown the request with an
 * Approve button. Nothing is changed until a second authorized person approves.
 */
async function requestApproval(
  deps: SlackCommandDeps,
  approvals: NonNullable<SlackCommandDeps["approvals"]>,
  command: Extract<SlashCommand, { kind: "run" }>,
  who: { userId: string; channelId: string; responseUrl: string; worker: string },
): Promise<Result> {
  const now = deps.now();
  const approval: Approval = {
    id: approvals.newId(),
    runbook: command.runbook,
    system: command.system,
    input: command.input,
    requester: who.userId,
    channel: who.channelId,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + approvals.ttlMinutes * 60_000).toISOString(),
    state: "pending",
  };
  await approvals.store.create(approval);
  const fields = { user: who.userId, channel: who.channelId, runbook: command.runbook, system: command.system };
  const started = await invokeWorker(
    deps,
    who.worker,
    {
      runbook: command.runbook,
      system: command.system,
      input: command.input,
      requestedBy: `slack:${who.userId}`,
      dryRun: true,
      responseUrl: who.responseUrl,
    },
    fields,
  );
  deps.logger.info("slack approval requested", { ...fields, approval: approval.id, expiresAt: approval.expiresAt });
  const message = approvalRequestMessage(approval);
  return json(started ? message : { ...message, text: `${message.text} (the dry run could not be started)` });
}

interface BlockActions {
  type?: string;
  user?: { id?: string };
  channel?: { id?: string };
  response_url?: string;
  actions?: { action_id?: string; value?: string }[];
}

/**
 * A click on Approve. The clicker must not be the requester, the request must be pending and not
 * expired, the clicker must be allowed the runbook on the system in the channel it was asked in, and
 * the approved state must be written conditionally on what was read: only then does the worker run it
 * for real. Every refusal is told to the clicker alone and logged; nothing runs.
 */
async function interaction(deps: SlackCommandDeps, text: string): Promise<Result> {
  let payload: BlockActions;
  try {
    payload = JSON.parse(text) as BlockActions;
  } catch {
    deps.logger.warn("refused slack interaction", { reason: "payload is not JSON" });
    return { statusCode: 400, body: "" };
  }
  const approver = payload.user?.id ?? "";
  const channel = payload.channel?.id ?? "";
  const responseUrl = payload.response_url ?? "";
  const prefix = deps.responseUrlPrefix ?? "https://hooks.slack.com/";
  const runClick = payload.actions?.find((a) => a.action_id?.startsWith(RUN_ACTION_PREFIX));
  if (payload.type === "block_actions" && runClick) {
    return runButton(deps, runClick.value ?? "", { userId: approver, channelId: channel, responseUrl });
  }
  const action = payload.actions?.find((a) => a.action_id === APPROVE_ACTION);
  if (payload.type !== "block_actions" || !action || !deps.approvals || !responseUrl.startsWith(prefix)) {
    deps.logger.warn("refused slack interaction", { reason: "not an approval click of this app", user: approver });
    return { statusCode: 200, body: "" };
  }
  const approvals = deps.approvals;
  const tell = (message: string, replaceOriginal = false) =>
    postToResponseUrl({
      url: responseUrl,
      allowedPrefix: prefix,
      message: { text: message, blocks: [] },
      inChannel: replaceOriginal,
      replaceOriginal,
    }).catch((error: unknown) => deps.logger.error("approval answer not posted", { error: (error as Error)?.name }));
  const refuse = async (reason: string): Promise<Result> => {
    deps.logger.warn("refused slack approval", { reason, approver, channel, approval: action.value });
    await tell(`Refused: ${reason}. Nothing was run.`);
    return { statusCode: 200, body: "" };
  };
  const read = await approvals.store.read(String(action.value ?? ""));
  const check = checkApproval(read?.approval, { approver, now: deps.now() });
  if (!check.ok) return refuse(check.reason);
  if (!read) return refuse("unknown approval");
  const { approval } = read;
  if (channel !== approval.channel) return refuse("approve it in the channel where it was asked");
  const groupsOf = deps.groupsOf;
  const decision = await authorize(
    deps.table,
    {
      kind: "run",
      runbook: approval.runbook,
      system: approval.system,
      input: approval.input,
      apply: true,
      dryRun: false,
    },
    { userId: approver, channelId: channel, ...(groupsOf ? { groupsOf: (g: string[]) => groupsOf(approver, g) } : {}) },
    { approvals: true },
  );
  if (!decision.allowed) return refuse(decision.reason);
  const approvedAt = deps.now().toISOString();
  const approved: Approval = { ...approval, state: "approved", approvedBy: approver, approvedAt };
  if (!(await approvals.store.approve(approved, read.etag))) {
    return refuse("somebody else decided it at the same moment");
  }
  const fields = { user: approval.requester, approver, channel, runbook: approval.runbook, system: approval.system };
  const started = await invokeWorker(
    deps,
    decision.worker,
    {
      runbook: approval.runbook,
      system: approval.system,
      input: approval.input,
      requestedBy: `slack:${approval.requester} approved by slack:${approver}`,
      dryRun: false,
      responseUrl,
    },
    fields,
  );
  deps.logger.info("slack approval granted", { ...fields, approval: approval.id, approvedAt, started });
  await tell(
    started
      ? `<@${approver}> approved ${approval.runbook} on ${approval.system} (asked by <@${approval.requester}>): running; the report will be posted here.`
      : `<@${approver}> approved ${approval.runbook} on ${approval.system}, but the worker could not be invoked.`,
    true,
  );
  return { statusCode: 200, body: "" };
}

/**
 * A run button under an alarm: exactly `/ops <runbook> <system>` typed by the clicker in that channel
 * (authorization, dry run of destructive runbooks), answered to the clicker through the response URL.
 */
async function runButton(
  deps: SlackCommandDeps,
  value: string,
  who: { userId: string; channelId: string; responseUrl: string },
): Promise<Result> {
  let target: { runbook?: unknown; system?: unknown };
  try {
    target = JSON.parse(value) as typeof target;
  } catch {
    target = {};
  }
  if (typeof target.runbook !== "string" || typeof target.system !== "string") {
    deps.logger.warn("refused slack interaction", {
      reason: "run button without runbook and system",
      user: who.userId,
    });
    return { statusCode: 200, body: "" };
  }
  const command = {
    kind: "run" as const,
    runbook: target.runbook,
    system: target.system,
    input: {},
    apply: false,
    dryRun: false,
  };
  const answer = await run(deps, command, { ...who, triggerId: null });
  const text = (JSON.parse(answer.body ?? "{}") as { text?: string }).text ?? "";
  const prefix = deps.responseUrlPrefix ?? "https://hooks.slack.com/";
  if (who.responseUrl.startsWith(prefix)) {
    await postToResponseUrl({ url: who.responseUrl, allowedPrefix: prefix, message: { text, blocks: [] } }).catch(
      (error: unknown) => deps.logger.error("run button answer not posted", { error: (error as Error)?.name }),
    );
  }
  return { statusCode: 200, body: "" };
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
function secretReader(secretId: string, region: string) {
  let value: Promise<Record<string, string>> | undefined;
  return (field: "signingSecret" | "token") => {
    value ??= (async () => {
      const { GetSecretValueCommand, SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
      const out = await new SecretsManagerClient({ region }).send(new GetSecretValueCommand({ SecretId: secretId }));
      return JSON.parse(out.SecretString ?? "{}") as Record<string, string>;
    })();
    return value.then((v) => {
      const found = v[field];
      if (!found) throw new Error(`secret ${secretId} holds no "${field}"`);
      return found;
    });
  };
}

/** The handler from the function's environment (set by the deployment plan, deploy/slack.ts). */
export async function slackHandlerFromEnv(env: Record<string, string | undefined>) {
  const table = parseAccessTable(env.OPS_SLACK_ACCESS);
  if (!env.OPS_SLACK_SECRET_ID) throw new Error("OPS_SLACK_SECRET_ID is required: the secret with the signing secret");
  const region = env.AWS_REGION ?? "us-east-1";
  const secret = secretReader(env.OPS_SLACK_SECRET_ID, region);
  const now = () => new Date();
  const { memoryReplayGuard, s3ReplayGuard } = await import("../lib/slack/replay.js");
  const memory = memoryReplayGuard({ now });
  let replay: ReplayGuard = memory;
  if (env.OPS_SLACK_REPLAY_BUCKET) {
    const { S3Client } = await import("@aws-sdk/client-s3");
    replay = s3ReplayGuard({
      s3: new S3Client({ region }),
      bucket: env.OPS_SLACK_REPLAY_BUCKET,
      prefix: "slack/seen",
      memory,
    });
  }
  const { slackGroupLookup } = await import("../lib/slack/groups.js");
  const approvals = await approvalsFromEnv(env, region);
  return createSlackCommandHandler({
    table,
    signingSecret: () => secret("signingSecret"),
    replay,
    lambda: new LambdaClient({ region }),
    logger: stdoutLogger,
    now,
    groupsOf: slackGroupLookup({
      token: () => secret("token"),
      now,
      ...(env.OPS_SLACK_API_URL ? { apiUrl: env.OPS_SLACK_API_URL } : {}),
    }),
    ...(approvals ? { approvals } : {}),
  });
}

/** Approvals in the Slack state bucket, `OPS_SLACK_APPROVAL_MINUTES` (1–1440, default 30) to decide. */
async function approvalsFromEnv(env: Record<string, string | undefined>, region: string) {
  if (!env.OPS_SLACK_REPLAY_BUCKET) return undefined;
  const ttlMinutes = Number(env.OPS_SLACK_APPROVAL_MINUTES ?? "30");
  if (!Number.isInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > 1440) {
    throw new Error(
      `OPS_SLACK_APPROVAL_MINUTES must be a whole number of minutes from 1 to 1440 (got "${env.OPS_SLACK_APPROVAL_MINUTES}")`,
    );
  }
  const [{ S3Client }, { s3ApprovalStore }, { randomUUID }] = await Promise.all([
    import("@aws-sdk/client-s3"),
    import("../lib/slack/approvals.js"),
    import("node:crypto"),
  ]);
  const s3 = new S3Client({ region });
  const store = s3ApprovalStore({ s3, bucket: env.OPS_SLACK_REPLAY_BUCKET, prefix: "slack/approvals" });
  return { store, ttlMinutes, newId: () => randomUUID() };
}

let built: Promise<ReturnType<typeof createSlackCommandHandler>> | undefined;

/** Lambda entry point (Function URL). */
export const handler = async (event: APIGatewayProxyEventV2): Promise<Result> => {
  built ??= slackHandlerFromEnv(process.env);
  return (await built)(event);
};
