import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { AwsFetchClient } from "../aws/fetch-client.js";
import {
  authorize,
  helpText,
  listText,
  parseSlashCommand,
  planText,
  type SlackAccessTable,
  type SlashCommand,
} from "./access.js";
import { type ApprovalRef, type ApprovalStore, approvalRequestText } from "./approvals.js";
import type { SlackAudit, SlackAuditRecord } from "./audit.js";
import type { ReplayGuard } from "./replay.js";
import { verifySlackSignature } from "./verify.js";

/**
 * The `/ops` slash command, behind a Lambda Function URL (functions/slack.ts builds it from the
 * environment). In order: the Slack signature and timestamp (before the body is parsed), the replay
 * guard, the command, the catalogue's authorization, the audit record; then the runbook's worker is
 * invoked asynchronously (`InvocationType: Event`) and Slack gets its answer at once, well inside its
 * 3 s. The worker posts the report to the command's `response_url`. Interactions (Approve, the run
 * buttons under alarms) are in lib/slack/interaction.ts.
 *
 * Deliberately small imports (no AWS SDK, no zod, no catalogue, no middy, no Powertools): cold start is
 * what misses Slack's 3 s (bolt-js #1643).
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
  /** Lambda Invoke, `InvocationType: Event` (lib/aws/fetch-client.ts). */
  lambda: Pick<AwsFetchClient, "invokeEvent">;
  logger: CommandLogger;
  now: () => Date;
  /** The groups among `groups` that a user is in (Slack's usergroups API); absent: groups grant nothing. */
  groupsOf?: (userId: string, groups: string[]) => Promise<string[]>;
  /** Response URLs must start with this (`https://hooks.slack.com/`); a local server in tests. */
  responseUrlPrefix?: string;
  /** Approvals of applied destructive runbooks; absent: `--apply` of a destructive runbook is refused. */
  approvals?: { store: ApprovalStore; ttlMinutes: number; newId: () => string };
  /** Every decision (refusal, authorization, approval) to the audit log; absent: log lines only. */
  audit?: SlackAudit;
}

/** The message a worker event carries to the worker (its `workerEventSchema`). */
export interface WorkerEvent {
  runbook: string;
  system: string;
  input: Record<string, string>;
  requestedBy: string;
  dryRun: boolean;
  responseUrl: string;
  /** This dry run is the plan of an approval request: the worker posts it with the Approve button. */
  approval?: ApprovalRef;
  /** `line`: post the report's one-line summary only (`/ops status` of the fleet). */
  reply?: "line";
}

/** Who asked, where, and where the answer goes. */
export interface Asker {
  userId: string;
  channelId: string;
  responseUrl: string;
}

export type Result = APIGatewayProxyStructuredResultV2;

export const json = (body: unknown): Result => ({
  statusCode: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
export const ephemeral = (text: string) => json({ response_type: "ephemeral", text });
/** Slack shows nothing for a non-200; the caller (not Slack, or a replay) learns only that it was refused. */
const refused = (): Result => ({ statusCode: 401, headers: { "content-type": "text/plain" }, body: "refused" });

/** The body exactly as Slack sent it (Function URLs base64-encode it, or not). */
function bodyOf(event: APIGatewayProxyEventV2): string {
  const body = event.body ?? "";
  return event.isBase64Encoded ? Buffer.from(body, "base64").toString("utf8") : body;
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  return headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

/** The runbook's name for `/ops status` (its worker is the status worker in the access table). */
export const STATUS_RUNBOOK = "status";
/** Slack accepts five posts per response URL: `/ops status` of a larger fleet shows the first five. */
const RESPONSE_URL_POSTS = 5;

/** Builds the Function URL handler. `interaction` answers Slack's interactivity payloads. */
export function createCommandHandler(
  deps: SlackCommandDeps,
  interaction: (deps: SlackCommandDeps, payload: string) => Promise<Result>,
) {
  return async (event: APIGatewayProxyEventV2): Promise<Result> => {
    const rawBody = bodyOf(event);
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
    const payload = form.get("payload");
    if (payload !== null) return interaction(deps, payload);
    const who: Asker = {
      userId: form.get("user_id") ?? "",
      channelId: form.get("channel_id") ?? "",
      responseUrl: form.get("response_url") ?? "",
    };
    return command(deps, parseSlashCommand(form.get("text") ?? ""), who);
  };
}

async function command(deps: SlackCommandDeps, parsed: SlashCommand, who: Asker): Promise<Result> {
  switch (parsed.kind) {
    case "help":
      return ephemeral(helpText());
    case "list":
      return ephemeral(listText(deps.table, who));
    case "plan":
      return ephemeral(planText(deps.table, parsed.system));
    case "status":
      return ephemeral(await status(deps, parsed.system, who));
    case "invalid":
      return ephemeral(parsed.message);
    case "run":
      return ephemeral(await runCommand(deps, parsed, who));
  }
}

/** Writes a decision to the audit log; false (logged) when it could not be written. */
export async function audit(deps: SlackCommandDeps, record: Omit<SlackAuditRecord, "when">): Promise<boolean> {
  if (!deps.audit) return true;
  try {
    await deps.audit.record({ ...record, when: deps.now().toISOString() });
    return true;
  } catch (error) {
    deps.logger.error("slack audit record not written", { event: record.event, error: errorName(error) });
    return false;
  }
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : String(error));

/** A refusal: logged, audited, and the reason to show. */
export async function refuse(
  deps: SlackCommandDeps,
  who: Pick<Asker, "userId" | "channelId">,
  what: SlackAuditRecord["what"],
  reason: string,
  event: "refused" | "approval-refused" | "expired" = "refused",
): Promise<string> {
  deps.logger.warn(event === "refused" ? "refused slack command" : "refused slack approval", {
    user: who.userId,
    channel: who.channelId,
    ...what,
    reason,
  });
  await audit(deps, { event, who: who.userId, what, where: who.channelId, result: `refused: ${reason}` });
  return `Refused: ${reason}. Nothing was run.`;
}

/** Response URLs outside Slack's are never handed to a worker (it would post a report there). */
export function answerable(deps: SlackCommandDeps, who: Asker): boolean {
  return Boolean(
    who.userId && who.channelId && who.responseUrl.startsWith(deps.responseUrlPrefix ?? "https://hooks.slack.com/"),
  );
}

/** `/ops <runbook> <system> …` (and a run button, which is the same command typed by the clicker). */
export async function runCommand(
  deps: SlackCommandDeps,
  parsed: Extract<SlashCommand, { kind: "run" }>,
  who: Asker,
): Promise<string> {
  const what = {
    runbook: parsed.runbook,
    system: parsed.system,
    inputKeys: Object.keys(parsed.input),
    apply: parsed.apply,
  };
  if (!answerable(deps, who)) return refuse(deps, who, what, "missing user_id, channel_id or response_url (Slack's)");
  const groupsOf = deps.groupsOf;
  const decision = await authorize(
    deps.table,
    parsed,
    { ...who, ...(groupsOf ? { groupsOf: (groups: string[]) => groupsOf(who.userId, groups) } : {}) },
    { approvals: Boolean(deps.approvals) },
  );
  if (!decision.allowed) return refuse(deps, who, what, decision.reason);
  if (decision.needsApproval && deps.approvals) {
    return requestApproval(deps, deps.approvals, parsed, { ...who, worker: decision.worker });
  }
  const recorded = await audit(deps, {
    event: "authorized",
    who: who.userId,
    what: { ...what, dryRun: decision.dryRun },
    where: who.channelId,
    result: `invoking ${decision.worker}`,
  });
  // No run without its audit record: who asked must be answerable afterwards.
  if (!recorded) return `Could not start ${parsed.runbook} on ${parsed.system}: the audit log could not be written.`;
  const payload: WorkerEvent = {
    runbook: parsed.runbook,
    system: parsed.system,
    input: parsed.input,
    requestedBy: `slack:${who.userId}`,
    dryRun: decision.dryRun,
    responseUrl: who.responseUrl,
  };
  if (!(await invokeWorker(deps, decision.worker, payload))) {
    return `Could not start ${parsed.runbook} on ${parsed.system}: the worker could not be invoked.`;
  }
  deps.logger.info("slack command accepted", {
    user: who.userId,
    channel: who.channelId,
    ...what,
    dryRun: decision.dryRun,
    worker: decision.worker,
    at: deps.now().toISOString(),
  });
  const mode = decision.dryRun ? " as a dry run" : "";
  return `Accepted: ${parsed.runbook} on ${parsed.system}${mode}. The report will be posted here.`;
}

/** Starts the worker asynchronously; false (logged) when Lambda refused the invocation. */
export async function invokeWorker(deps: SlackCommandDeps, worker: string, payload: WorkerEvent): Promise<boolean> {
  try {
    await deps.lambda.invokeEvent(worker, JSON.stringify(payload));
    return true;
  } catch (error) {
    deps.logger.error("slack command not started", {
      user: payload.requestedBy,
      runbook: payload.runbook,
      system: payload.system,
      worker,
      error: errorName(error),
    });
    return false;
  }
}

/**
 * An applied destructive runbook: the approval is stored (pending, with its expiry) and its dry run is
 * started with the approval's reference, so that the worker posts the plan and the Approve button in
 * one message in the channel. Nothing is changed until a second authorized person approves.
 */
async function requestApproval(
  deps: SlackCommandDeps,
  approvals: NonNullable<SlackCommandDeps["approvals"]>,
  parsed: Extract<SlashCommand, { kind: "run" }>,
  who: Asker & { worker: string },
): Promise<string> {
  const now = deps.now();
  const approval = {
    id: approvals.newId(),
    runbook: parsed.runbook,
    system: parsed.system,
    input: parsed.input,
    requester: who.userId,
    channel: who.channelId,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + approvals.ttlMinutes * 60_000).toISOString(),
    state: "pending" as const,
  };
  const what = { runbook: parsed.runbook, system: parsed.system, inputKeys: Object.keys(parsed.input), apply: true };
  const recorded = await audit(deps, {
    event: "approval-requested",
    who: who.userId,
    what: { ...what, approval: approval.id },
    where: who.channelId,
    result: `pending until ${approval.expiresAt}; dry run on ${who.worker}`,
  });
  if (!recorded) return `Could not ask for approval of ${parsed.runbook}: the audit log could not be written.`;
  await approvals.store.create(approval);
  const started = await invokeWorker(deps, who.worker, {
    runbook: parsed.runbook,
    system: parsed.system,
    input: parsed.input,
    requestedBy: `slack:${who.userId}`,
    dryRun: true,
    responseUrl: who.responseUrl,
    approval: {
      id: approval.id,
      requester: approval.requester,
      expiresAt: approval.expiresAt,
      channel: approval.channel,
    },
  });
  deps.logger.info("slack approval requested", { user: who.userId, ...what, approval: approval.id, started });
  if (!started) return `${approvalRequestText(approval)} But its dry run could not be started: nothing to approve.`;
  return `${approvalRequestText(approval)} Its dry-run plan and the Approve button will be posted in this channel.`;
}

/**
 * `/ops status [<system>]`: reads only, done by the status worker (it needs the AWS SDK and several
 * reads, neither of which fits the 3 s acknowledgement), posted to the response URL. Who may ask: anyone
 * in a channel where the system allows some runbook from Slack; the fleet: one line per system allowed
 * in this channel.
 */
async function status(deps: SlackCommandDeps, system: string | undefined, who: Asker): Promise<string> {
  const what = { command: "status", ...(system ? { system } : {}) };
  const worker = deps.table.workers[STATUS_RUNBOOK];
  if (!answerable(deps, who)) return refuse(deps, who, what, "missing user_id, channel_id or response_url (Slack's)");
  if (!worker) return refuse(deps, who, what, "`/ops status` has no status worker in this deployment");
  const here = systemsShownIn(deps.table, who.channelId);
  const refusal = statusRefusal(deps.table, system, here);
  if (refusal) return refuse(deps, who, what, refusal);
  const targets = system ? [system] : here.slice(0, RESPONSE_URL_POSTS);
  await audit(deps, {
    event: "status",
    who: who.userId,
    what,
    where: who.channelId,
    result: `reading ${targets.join(", ")}`,
  });
  const started: string[] = [];
  for (const id of targets) {
    const event: WorkerEvent = {
      runbook: STATUS_RUNBOOK,
      system: id,
      input: {},
      requestedBy: `slack:${who.userId}`,
      dryRun: false,
      responseUrl: who.responseUrl,
      ...(system ? {} : { reply: "line" as const }),
    };
    if (await invokeWorker(deps, worker, event)) started.push(id);
  }
  if (started.length === 0) return "Could not read the status: the status worker could not be invoked.";
  const skipped = here.length - targets.length;
  const more = !system && skipped > 0 ? ` (${skipped} more: \`/ops status <system>\`)` : "";
  return `Reading the status of ${started.join(", ")}${more}; it will be posted here.`;
}

/** The systems some of whose Slack entries name this channel. */
function systemsShownIn(table: SlackAccessTable, channel: string): string[] {
  return Object.entries(table.systems)
    .filter(([, s]) => Object.values(s.runbooks).some((r) => r.channels.includes(channel)))
    .map(([id]) => id);
}

/** Why this status is not shown here, if it is not. */
function statusRefusal(table: SlackAccessTable, system: string | undefined, here: string[]): string | undefined {
  if (system && !table.systems[system]) {
    return `unknown system "${system}"; known: ${Object.keys(table.systems).join(", ")}`;
  }
  if (system && !here.includes(system)) return `the status of ${system} is not shown in this channel`;
  if (here.length === 0) return "no system shows its status in this channel";
  return undefined;
}
