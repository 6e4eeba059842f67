import type { AwsFetchClient, ListedObject } from "../aws/fetch-client.js";
import type { SlackMessage, SlackPoster, SlackThread } from "../notify/slack.js";

/**
 * Approval of an applied destructive runbook from Slack: the requester asks, a second authorized person
 * clicks Approve before it expires, and only then does the worker run it for real. The state lives in
 * S3 and every change is conditional (create with `If-None-Match`, approve with `If-Match` on the ETag
 * read), so two people clicking at once, or one click delivered twice, run it once.
 */
export interface Approval {
  id: string;
  runbook: string;
  system: string;
  input: Record<string, string>;
  requester: string;
  channel: string;
  createdAt: string;
  expiresAt: string;
  /** `expired`: closed by the expiry sweep (lib/slack/expiry.ts) once `expiresAt` passed unapproved. */
  state: "pending" | "approved" | "expired";
  approvedBy?: string;
  approvedAt?: string;
  /** When the sweep closed it. */
  expiredAt?: string;
  /**
   * The sweep's progress on an expired record: when its `expired` audit record was written and when its
   * request message was replaced. Absent on an expired record: a step that failed (or a Lambda that died
   * after the write), which the next sweep finishes.
   */
  auditedAt?: string;
  messageClosedAt?: string;
  /** Why the message can never be replaced (Slack's final refusal, e.g. `message_not_found`): not tried again. */
  messageUnreplaceable?: string;
  /**
   * Where the request message with its Approve button was posted (`chat.postMessage` by the worker), so
   * that the sweep can replace it (`chat.update`). Absent when it went through a response URL, which
   * Slack keeps for 30 minutes and 5 posts only: too short to close a request that expired later.
   */
  message?: { channel: string; ts: string };
}

/** The approval-shaped JSON (anything else under the prefix is reported, never trusted). */
export function asApproval(value: unknown): Approval | undefined {
  if (!value || typeof value !== "object") return undefined;
  const a = value as Record<string, unknown>;
  const strings = ["id", "runbook", "system", "requester", "channel", "createdAt", "expiresAt"];
  if (!strings.every((k) => typeof a[k] === "string" && a[k] !== "")) return undefined;
  if (!["pending", "approved", "expired"].includes(String(a.state))) return undefined;
  if (Number.isNaN(Date.parse(String(a.expiresAt)))) return undefined;
  if (!a.input || typeof a.input !== "object" || Array.isArray(a.input)) return undefined;
  return value as Approval;
}

/** Where approvals are kept. */
export interface ApprovalStore {
  create(approval: Approval): Promise<void>;
  read(id: string): Promise<{ approval: Approval; etag?: string } | undefined>;
  /** Writes the approved record if nobody changed it since it was read; false when somebody did. */
  approve(approval: Approval, etag: string | undefined): Promise<boolean>;
  /**
   * Writes the expired record if nobody changed it since it was read (the same condition as approve); the
   * new ETag, for the progress written after it.
   */
  expire(approval: Approval, etag: string | undefined): Promise<{ written: boolean; etag?: string }>;
  /** Writes the sweep's progress (`auditedAt`, `messageClosedAt`) if nobody changed the record since it was read. */
  recordProgress(approval: Approval, etag: string | undefined): Promise<boolean>;
  /** Adds where the request message is, if nobody changed the record since it was read. */
  recordMessage(approval: Approval, etag: string | undefined): Promise<boolean>;
  /** Every object under the prefix, page by page (keys only: each is read by {@link ApprovalStore.readKey}). */
  list(): AsyncGenerator<ListedObject>;
  /** The raw body and ETag of one listed key, or undefined when it is gone. */
  readKey(key: string): Promise<{ body: string; etag?: string } | undefined>;
  /** The key prefix the approvals live under (`slack/approvals/`). */
  readonly prefix: string;
}

/** Why a click does not approve (shown to the clicker), or that it does. */
export type ApprovalCheck = { ok: true } | { ok: false; reason: string };

/** Pure: may `approver` approve this, now? Not if it is unknown, already approved, expired, or their own. */
export function checkApproval(approval: Approval | undefined, options: { approver: string; now: Date }): ApprovalCheck {
  if (!approval) return { ok: false, reason: "this approval request does not exist (or was removed)" };
  if (approval.state === "approved") {
    return { ok: false, reason: `already approved by <@${approval.approvedBy ?? "?"}>: it runs once` };
  }
  // Closed by the sweep: refused whatever the clicker's clock says, so an expired request never runs.
  if (approval.state === "expired" || options.now.getTime() >= Date.parse(approval.expiresAt)) {
    return { ok: false, reason: `this request expired at ${approval.expiresAt}: ask again` };
  }
  if (options.approver === approval.requester) {
    return { ok: false, reason: "you asked for it: a second person must approve" };
  }
  return { ok: true };
}

/** Action id of the Approve button. */
export const APPROVE_ACTION = "ops-approve";

/** What the worker is told about the approval a dry run is for (the worker event's `approval`). */
export interface ApprovalRef {
  id: string;
  requester: string;
  expiresAt: string;
  /** The channel it was asked in: the worker posts the request there with the bot token, when it has one. */
  channel?: string | undefined;
}

/** The request line: who asks to apply what, and until when a second person may approve. */
export function approvalRequestText(
  approval: Pick<Approval, "requester" | "runbook" | "system" | "input" | "expiresAt">,
) {
  const args = Object.entries(approval.input)
    .map(([k, v]) => ` ${k}=${v}`)
    .join("");
  return `<@${approval.requester}> asks to apply *${approval.runbook}* on *${approval.system}*${args}. A second authorized person may approve until ${approval.expiresAt}.`;
}

/**
 * The in-channel message asking for approval: the request, the dry run's report (its plan: every
 * action it would take) and the Approve button, in one message, so that what is approved is what the
 * approver sees. A dry run that did not succeed gets no button: there is no plan to approve.
 */
export function approvalRequestMessage(options: {
  approval: ApprovalRef & { runbook: string; system: string; input: Record<string, string> };
  plan: SlackMessage;
  planSucceeded: boolean;
}): SlackMessage {
  const { approval, plan, planSucceeded } = options;
  const ask = approvalRequestText(approval);
  const text = planSucceeded ? ask : `${ask} The dry run did not succeed: nothing to approve; ask again once it does.`;
  const blocks: SlackMessage["blocks"] = [{ type: "section", text: { type: "mrkdwn", text } }, ...plan.blocks];
  if (planSucceeded) {
    blocks.push({
      type: "actions",
      elements: [
        {
          type: "button",
          action_id: APPROVE_ACTION,
          style: "danger",
          text: { type: "plain_text", text: `Approve ${approval.runbook}`.slice(0, 75) },
          value: approval.id,
        },
      ],
    });
  }
  return { text: `${text} ${plan.text}`.slice(0, 3000), blocks: blocks.slice(0, 50) };
}

/** Approvals as JSON objects under `prefix` in the Slack state bucket. */
export function s3ApprovalStore(options: {
  s3: Pick<AwsFetchClient, "putObject" | "getObject"> & Partial<Pick<AwsFetchClient, "listObjects">>;
  bucket: string;
  prefix: string;
}): ApprovalStore {
  const key = (id: string) => `${options.prefix}/${id}.json`;
  const put = (approval: Approval, condition: { ifNoneMatch?: "*"; ifMatch?: string }) =>
    options.s3.putObject({
      bucket: options.bucket,
      key: key(approval.id),
      body: JSON.stringify(approval),
      contentType: "application/json",
      ...condition,
    });
  // Without an ETag there is nothing to be conditional on: refuse rather than risk a decision twice.
  const replacing = async (approval: Approval, etag: string | undefined) =>
    etag ? await put(approval, { ifMatch: etag }) : { written: false as const };
  const replace = async (approval: Approval, etag: string | undefined) => (await replacing(approval, etag)).written;
  return {
    prefix: `${options.prefix}/`,
    async create(approval) {
      const put1 = await put(approval, { ifNoneMatch: "*" });
      if (!put1.written) throw new Error(`approval ${approval.id} exists already`);
    },
    async read(id) {
      if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
      const out = await options.s3.getObject(options.bucket, key(id));
      if (!out) return undefined;
      return { approval: JSON.parse(out.body) as Approval, ...(out.etag ? { etag: out.etag } : {}) };
    },
    approve: replace,
    expire: replacing,
    recordProgress: replace,
    recordMessage: replace,
    async *list() {
      const listObjects = options.s3.listObjects;
      if (!listObjects) throw new Error("this approval store was built without listObjects");
      let token: string | undefined;
      do {
        const page = await listObjects(options.bucket, { prefix: `${options.prefix}/`, ...(token ? { token } : {}) });
        yield* page.objects;
        token = page.nextToken;
      } while (token);
    },
    readKey: (k) => options.s3.getObject(options.bucket, k),
  };
}

/** What a worker needs to post an approval request with the bot token and remember where it is. */
export interface ApprovalPosting {
  slack: Pick<SlackPoster, "post">;
  store: Pick<ApprovalStore, "read" | "recordMessage">;
}

/**
 * What {@link postApprovalRequest} did: posted by the bot (whether its ts was recorded, and why not), or not
 * posted (the caller falls back to the response URL). A duplicate delivery finds the message recorded and
 * posts nothing: `posted` (it is, once), `recorded`, with the reason.
 */
export type ApprovalPostOutcome =
  | { posted: true; recorded: boolean; reason?: string }
  | { posted: false; reason: string };

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Posts the request message in the channel it was asked in with `chat.postMessage` and records its
 * channel and ts on the approval (If-Match on the ETag read), so that the expiry sweep can replace it
 * with `chat.update` when nobody approves. A response URL would not do: Slack keeps it 30 minutes and
 * 5 posts, and the sweep comes after the expiry. The record is read first: a duplicate delivery of the
 * worker's event finds the first message there and posts no second one with a live button. Not posted
 * (the caller falls back to the response URL) when the record cannot be read or Slack refuses. Once
 * posted, never "not posted": a record step that fails or loses its condition is `recorded: false` with
 * the reason, so that the caller does not post the request a second time.
 */
export async function postApprovalRequest(
  posting: ApprovalPosting,
  options: { id: string; channel: string; message: SlackMessage },
): Promise<ApprovalPostOutcome> {
  let before: Awaited<ReturnType<ApprovalStore["read"]>>;
  try {
    before = await posting.store.read(options.id);
  } catch (error) {
    return { posted: false, reason: `approval ${options.id} could not be read: ${reasonOf(error)}` };
  }
  const earlier = before?.approval.message;
  if (earlier) {
    const reason = `already posted as ${earlier.channel} ${earlier.ts} (a duplicate delivery): not posted again`;
    return { posted: true, recorded: true, reason };
  }
  let at: SlackThread;
  try {
    at = await posting.slack.post({ channel: options.channel, message: options.message });
  } catch (error) {
    return { posted: false, reason: reasonOf(error) };
  }
  // A webhook poster has no ts: then the message is posted, and only a click can close it.
  if (!at.ts)
    return { posted: true, recorded: false, reason: "posted without a ts (a webhook): only a click closes it" };
  return { posted: true, ...(await recordMessageAt(posting.store, before, at)) };
}

/** Records where the message is on the record as read before the post; never throws. */
async function recordMessageAt(
  store: ApprovalPosting["store"],
  before: Awaited<ReturnType<ApprovalStore["read"]>>,
  at: SlackThread,
): Promise<{ recorded: boolean; reason?: string }> {
  if (!before) return { recorded: false, reason: "the approval record does not exist: nothing to record it on" };
  if (before.approval.state !== "pending") {
    return { recorded: false, reason: `the approval is ${before.approval.state} already: nothing left to close` };
  }
  try {
    if (await store.recordMessage({ ...before.approval, message: at }, before.etag)) return { recorded: true };
    return { recorded: false, reason: "the record changed since it was read: the sweep cannot replace this message" };
  } catch (error) {
    return { recorded: false, reason: `the message ts could not be recorded: ${reasonOf(error)}` };
  }
}

/** The bot token of a secret holding `{"token":"xoxb-…"}` or the bare token; undefined for anything else. */
export function botTokenOf(secret: string): string | undefined {
  try {
    const token = (JSON.parse(secret) as Record<string, unknown>).token;
    return typeof token === "string" && token ? token : undefined;
  } catch {
    return secret.trim().startsWith("xoxb-") ? secret.trim() : undefined;
  }
}
