import { SlackError, type SlackMessage, type SlackPoster } from "../notify/slack.js";
import { type Approval, type ApprovalStore, approvalRequestText, asApproval } from "./approvals.js";
import type { SlackAudit } from "./audit.js";
import type { CommandLogger } from "./command.js";

/**
 * The expiry sweep of Slack approvals (page: functions/approval-expiry.md). An approval nobody clicked
 * used to lapse silently: its record stayed `pending`, the audit log said nothing unless someone clicked
 * late, and the request message kept its Approve button. The sweep closes it like a change-approval tool
 * does: the record becomes `expired` (a conditional write on the ETag read, exactly as Approve writes, so
 * a click at the same moment either wins or loses whole), an `expired` decision goes to the audit log, and
 * the request message is replaced by one without the button. Which of those steps are done is recorded on
 * the approval (`auditedAt`, `messageClosedAt`), so that a run that failed or died halfway is finished by
 * the next, and a run after everything is done writes nothing. Nothing is deleted: the records stay as the
 * trail. Pure {@link judgeApproval} decides; {@link sweepApprovals} carries it out, one record at a time.
 */

/** Who the audit log names for a decision nobody made by hand. */
export const EXPIRY_ACTOR = "ops-autopilot:approval-expiry";

/** The steps after the expired write that a record still needs: its audit record, its message replaced. */
export interface ExpirySteps {
  audit: boolean;
  message: boolean;
}

/** What the sweep decides about one object under the approvals prefix. */
export type ExpiryVerdict =
  | { kind: "invalid"; reason: string }
  | { kind: "keep"; reason: string; approval: Approval }
  | { kind: "expire"; approval: Approval }
  | { kind: "finish"; reason: string; approval: Approval; steps: ExpirySteps };

const APPROVAL_KEY = /^([0-9a-f-]{36})\.json$/;

/** Parses a body; undefined when it is not JSON. */
function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Pure: what to do with the object at `key`, read as `body`, at `now`. The rules, in order: a key that is
 * not `<prefix><uuid>.json`, a body that is not JSON, or JSON that is not an approval (or whose id is not
 * its key's) is reported and left alone; an approved record is kept; an expired record whose audit
 * record or message replacement is not recorded done (`auditedAt`, `messageClosedAt`: a step failed, or
 * the Lambda died after the write) is finished, only those steps; an expired record with both done is
 * kept (a second run changes nothing); a pending one before its `expiresAt` is kept; a pending one past it
 * is expired.
 */
export function judgeApproval(options: { key: string; prefix: string; body: string; now: Date }): ExpiryVerdict {
  const name = options.key.startsWith(options.prefix) ? options.key.slice(options.prefix.length) : undefined;
  const id = name === undefined ? undefined : APPROVAL_KEY.exec(name)?.[1];
  if (!id) return { kind: "invalid", reason: `not an approval key (expected ${options.prefix}<uuid>.json)` };
  const json = parseJson(options.body);
  if (json === undefined) return { kind: "invalid", reason: "not valid JSON" };
  const approval = asApproval(json);
  if (!approval) {
    return {
      kind: "invalid",
      reason:
        "not an approval record (needs id, runbook, system, input, requester, channel, createdAt, expiresAt and state pending, approved or expired)",
    };
  }
  if (approval.id !== id) return { kind: "invalid", reason: `its id ${approval.id} is not its key's (${id})` };
  if (approval.state === "approved") {
    return { kind: "keep", approval, reason: `approved by ${approval.approvedBy ?? "?"} at ${approval.approvedAt}` };
  }
  if (approval.state === "expired") return judgeExpired(approval);
  if (options.now.getTime() < Date.parse(approval.expiresAt)) {
    return { kind: "keep", approval, reason: `pending until ${approval.expiresAt}` };
  }
  return { kind: "expire", approval };
}

/** An expired record: kept when its steps are done, else finished (only the steps not done). */
function judgeExpired(approval: Approval): ExpiryVerdict {
  const replaced = approval.messageClosedAt || approval.messageUnreplaceable;
  const steps: ExpirySteps = { audit: !approval.auditedAt, message: !!approval.message && !replaced };
  const closed = `already expired (closed at ${approval.expiredAt ?? "?"})`;
  if (!steps.audit && !steps.message) return { kind: "keep", approval, reason: closed };
  const left = [steps.audit ? "its audit record" : "", steps.message ? "its message replaced" : ""].filter(Boolean);
  return { kind: "finish", approval, steps, reason: `${closed}, not finished: ${left.join(" and ")}` };
}

/** The record as the sweep writes it. */
export function expiredApproval(approval: Approval, now: Date): Approval {
  return { ...approval, state: "expired", expiredAt: now.toISOString() };
}

/** The request message once expired: the request, that nobody approved, and no button. */
export function expiredMessage(approval: Approval): SlackMessage {
  const text = `⌛ Expired: ${approvalRequestText(approval)} Nobody approved it by ${approval.expiresAt}: nothing was run. Ask again with \`/ops ${approval.runbook} ${approval.system} --apply\`.`;
  return { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] };
}

/** What the sweep needs; tests pass their own. */
export interface ExpirySweepDeps {
  store: ApprovalStore;
  audit: SlackAudit;
  /** `chat.update` with the bot token (lib/notify/slack.ts). */
  slack: Pick<SlackPoster, "update">;
  now: () => Date;
  logger: CommandLogger;
  dryRun: boolean;
  /** Stop between records (the Lambda deadline). */
  signal?: AbortSignal;
}

/** One line of the sweep's report. */
export interface ExpiryAction {
  resource: string;
  action: "expire-approval" | "record-audit" | "update-message" | "record-progress";
  status: "done" | "would-do" | "skipped" | "failed";
  reason: string;
  /** What became of the record (on its `expire-approval` line): counted by the report. */
  outcome?: "expired" | "finished" | "kept" | "invalid" | "lost";
}

/** What one run did, record by record. */
export interface ExpiryReport {
  runbook: "approval-expiry";
  dryRun: boolean;
  status: "succeeded" | "partial" | "failed";
  startedAt: string;
  finishedAt: string;
  actions: ExpiryAction[];
  metrics: { expired: number; finished: number; kept: number; invalid: number; lost: number; failed: number };
  summary: string;
}

const errorText = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * The audit record of an expiry: who asked, what, when it expired, that nobody approved. Its `when` is the
 * record's `expiredAt` and its key the approval's id (`once`): a retry by a later sweep writes the same
 * create-only key, which exists, and leaves one record.
 */
async function recordExpiry(deps: ExpirySweepDeps, approval: Approval, resource: string): Promise<ExpiryAction> {
  if (deps.dryRun) return { resource, action: "record-audit", status: "would-do", reason: "would record expired" };
  try {
    const record = {
      event: "expired",
      who: EXPIRY_ACTOR,
      what: {
        runbook: approval.runbook,
        system: approval.system,
        inputKeys: Object.keys(approval.input),
        apply: true,
        approval: approval.id,
        requester: approval.requester,
      },
      where: approval.channel,
      when: approval.expiredAt ?? deps.now().toISOString(),
      result: `expired at ${approval.expiresAt}: nobody approved; nothing was run`,
    } as const;
    await deps.audit.record(record, { once: approval.id });
    return { resource, action: "record-audit", status: "done", reason: "expired" };
  } catch (error) {
    return { resource, action: "record-audit", status: "failed", reason: errorText(error) };
  }
}

/**
 * Slack's refusals of `chat.update` that no retry changes (the message or its channel is gone, or it can no
 * longer be edited): recorded as such, so that the sweep does not try it again every 15 minutes forever.
 */
const FINAL_REFUSALS = new Set([
  "message_not_found",
  "cant_update_message",
  "channel_not_found",
  "is_archived",
  "edit_window_closed",
]);

/** Replaces the request message (its button gone), when the record says where it is. */
async function closeMessage(deps: ExpirySweepDeps, approval: Approval, resource: string): Promise<ExpiryAction> {
  if (!approval.message) {
    return {
      resource,
      action: "update-message",
      status: "skipped",
      reason:
        "no message ts recorded (posted through a response URL): its button stays, and a click is refused as expired",
    };
  }
  const where = `${approval.message.channel} ${approval.message.ts}`;
  if (deps.dryRun) return { resource, action: "update-message", status: "would-do", reason: `would replace ${where}` };
  try {
    await deps.slack.update({ at: approval.message, message: expiredMessage(approval) });
    return { resource, action: "update-message", status: "done", reason: `replaced ${where}` };
  } catch (error) {
    const refusal = error instanceof SlackError ? error.refusal : undefined;
    if (refusal && FINAL_REFUSALS.has(refusal)) {
      const reason = `Slack refused to replace ${where} for good (${refusal}): not tried again`;
      return { resource, action: "update-message", status: "skipped", reason };
    }
    return { resource, action: "update-message", status: "failed", reason: errorText(error) };
  }
}

const resourceOf = (approval: Approval) =>
  `approval ${approval.id} (${approval.runbook} on ${approval.system}, asked by ${approval.requester})`;

/** Expires one pending record past its time: the conditional write, then its audit record and message. */
async function expireOne(deps: ExpirySweepDeps, approval: Approval, etag: string | undefined): Promise<ExpiryAction[]> {
  const resource = resourceOf(approval);
  const reason = `pending past ${approval.expiresAt}`;
  if (deps.dryRun) {
    return [
      {
        resource,
        action: "expire-approval",
        status: "would-do",
        reason: `${reason}: would mark it expired`,
        outcome: "expired",
      },
      await closeMessage(deps, approval, resource),
    ];
  }
  const expired = expiredApproval(approval, deps.now());
  const written = await deps.store.expire(expired, etag);
  if (!written.written) {
    // Somebody decided it between the read and the write (an Approve click): theirs stands, nothing is posted.
    return [
      {
        resource,
        action: "expire-approval",
        status: "skipped",
        reason: "the record changed since it was read (decided at the same moment): nothing written",
        outcome: "lost",
      },
    ];
  }
  return [
    { resource, action: "expire-approval", status: "done", reason: `${reason}: marked expired`, outcome: "expired" },
    ...(await finishSteps(deps, { approval: expired, etag: written.etag, steps: { audit: true, message: true } })),
  ];
}

/** An expired record an earlier run left unfinished: only the steps not recorded done. */
async function finishOne(
  deps: ExpirySweepDeps,
  verdict: Extract<ExpiryVerdict, { kind: "finish" }>,
  etag: string | undefined,
): Promise<ExpiryAction[]> {
  const { approval, steps, reason } = verdict;
  const resource = resourceOf(approval);
  return [
    { resource, action: "expire-approval", status: "skipped", reason, outcome: "finished" },
    ...(await finishSteps(deps, { approval, etag, steps })),
  ];
}

/**
 * The steps after the expired write, then which of them are done, on the record (If-Match on its ETag),
 * so that a later run repeats only what failed here, and a run after everything is done writes nothing.
 */
async function finishSteps(
  deps: ExpirySweepDeps,
  options: { approval: Approval; etag: string | undefined; steps: ExpirySteps },
): Promise<ExpiryAction[]> {
  const { approval, steps } = options;
  const resource = resourceOf(approval);
  const actions: ExpiryAction[] = [];
  const progress: Pick<Approval, "auditedAt" | "messageClosedAt" | "messageUnreplaceable"> = {};
  if (steps.audit) {
    actions.push(await recordExpiry(deps, approval, resource));
    if (actions.at(-1)?.status === "done") progress.auditedAt = deps.now().toISOString();
  }
  if (steps.message) {
    const line = await closeMessage(deps, approval, resource);
    actions.push(line);
    if (line.status === "done") progress.messageClosedAt = deps.now().toISOString();
    // With a message recorded, only a final refusal is skipped (a dry run is would-do).
    if (line.status === "skipped" && approval.message) progress.messageUnreplaceable = line.reason;
  }
  if (Object.keys(progress).length === 0) return actions;
  return [...actions, await recordProgress(deps, { ...approval, ...progress }, options.etag, resource)];
}

/** Writes which steps are done; a refused or failed write only means a later run repeats them (idempotent). */
async function recordProgress(
  deps: ExpirySweepDeps,
  approval: Approval,
  etag: string | undefined,
  resource: string,
): Promise<ExpiryAction> {
  const done = [
    approval.auditedAt ? "audited" : "",
    approval.messageClosedAt ? "message replaced" : "",
    approval.messageUnreplaceable ? "message not replaceable" : "",
  ];
  const what = done.filter(Boolean).join(", ");
  try {
    if (await deps.store.recordProgress(approval, etag)) {
      return { resource, action: "record-progress", status: "done", reason: `recorded ${what}` };
    }
    const reason = `the record changed since it was written: ${what} not recorded, a later run repeats it`;
    return { resource, action: "record-progress", status: "failed", reason };
  } catch (error) {
    return { resource, action: "record-progress", status: "failed", reason: errorText(error) };
  }
}

/** One listed key: read, judged, carried out; a failure is that record's only. */
async function sweepKey(deps: ExpirySweepDeps, key: string): Promise<ExpiryAction[]> {
  const resource = key;
  try {
    const read = await deps.store.readKey(key);
    if (!read) {
      return [{ resource, action: "expire-approval", status: "skipped", reason: "gone since listed", outcome: "kept" }];
    }
    const verdict = judgeApproval({ key, prefix: deps.store.prefix, body: read.body, now: deps.now() });
    if (verdict.kind === "expire") return await expireOne(deps, verdict.approval, read.etag);
    if (verdict.kind === "finish") return await finishOne(deps, verdict, read.etag);
    if (verdict.kind === "keep") {
      return [{ resource, action: "expire-approval", status: "skipped", reason: verdict.reason, outcome: "kept" }];
    }
    const reason = `${verdict.reason}: left as it is`;
    return [{ resource, action: "expire-approval", status: "skipped", reason, outcome: "invalid" }];
  } catch (error) {
    return [{ resource, action: "expire-approval", status: "failed", reason: errorText(error) }];
  }
}

/** Counts for the report and its one line. */
function countsOf(actions: ExpiryAction[]): ExpiryReport["metrics"] {
  const count = (outcome: ExpiryAction["outcome"]) => actions.filter((a) => a.outcome === outcome).length;
  return {
    expired: count("expired"),
    finished: count("finished"),
    kept: count("kept"),
    invalid: count("invalid"),
    lost: count("lost"),
    failed: actions.filter((a) => a.status === "failed").length,
  };
}

/** Failures beside records that were closed: partial; failures alone: failed. */
function statusOf(metrics: ExpiryReport["metrics"], aborted: boolean): ExpiryReport["status"] {
  if (metrics.failed) return metrics.expired || metrics.finished ? "partial" : "failed";
  return aborted ? "partial" : "succeeded";
}

function summaryOf(metrics: ExpiryReport["metrics"], dryRun: boolean): string {
  const verb = dryRun ? "would expire" : "expired";
  const parts = [`${verb} ${metrics.expired}`, `kept ${metrics.kept}`];
  if (metrics.finished) parts.push(`${metrics.finished} finished (left unfinished by an earlier run)`);
  if (metrics.lost) parts.push(`${metrics.lost} decided at the same moment`);
  if (metrics.invalid) parts.push(`${metrics.invalid} not approvals (left as they are)`);
  if (metrics.failed) parts.push(`${metrics.failed} failed`);
  return `approvals: ${parts.join(", ")}`;
}

/**
 * Lists the approvals prefix and judges every record; expires those past their time and finishes the
 * expired ones an earlier run left unfinished. Idempotent: an expired record with its steps done is kept
 * by the next run, which writes and posts nothing. A dry run reads only.
 */
export async function sweepApprovals(deps: ExpirySweepDeps): Promise<ExpiryReport> {
  const startedAt = deps.now().toISOString();
  const actions: ExpiryAction[] = [];
  let aborted = false;
  for await (const object of deps.store.list()) {
    if (deps.signal?.aborted) {
      aborted = true;
      break;
    }
    actions.push(...(await sweepKey(deps, object.key)));
  }
  const metrics = countsOf(actions);
  const report: ExpiryReport = {
    runbook: "approval-expiry",
    dryRun: deps.dryRun,
    status: statusOf(metrics, aborted),
    startedAt,
    finishedAt: deps.now().toISOString(),
    actions,
    metrics,
    summary: `${summaryOf(metrics, deps.dryRun)}${aborted ? "; stopped before the deadline, the rest next run" : ""}`,
  };
  deps.logger.info("approval expiry sweep", { dryRun: deps.dryRun, status: report.status, ...metrics });
  return report;
}
