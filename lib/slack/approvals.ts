import type { AwsFetchClient } from "../aws/fetch-client.js";
import type { SlackMessage } from "../notify/slack.js";

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
  state: "pending" | "approved";
  approvedBy?: string;
  approvedAt?: string;
}

/** Where approvals are kept. */
export interface ApprovalStore {
  create(approval: Approval): Promise<void>;
  read(id: string): Promise<{ approval: Approval; etag?: string } | undefined>;
  /** Writes the approved record if nobody changed it since it was read; false when somebody did. */
  approve(approval: Approval, etag: string | undefined): Promise<boolean>;
}

/** Why a click does not approve (shown to the clicker), or that it does. */
export type ApprovalCheck = { ok: true } | { ok: false; reason: string };

/** Pure: may `approver` approve this, now? Not if it is unknown, already approved, expired, or their own. */
export function checkApproval(approval: Approval | undefined, options: { approver: string; now: Date }): ApprovalCheck {
  if (!approval) return { ok: false, reason: "this approval request does not exist (or was removed)" };
  if (approval.state === "approved") {
    return { ok: false, reason: `already approved by <@${approval.approvedBy ?? "?"}>: it runs once` };
  }
  if (options.now.getTime() >= Date.parse(approval.expiresAt)) {
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
  s3: Pick<AwsFetchClient, "putObject" | "getObject">;
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
  return {
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
    async approve(approval, etag) {
      // Without an ETag there is nothing to be conditional on: refuse rather than risk running twice.
      if (!etag) return false;
      return (await put(approval, { ifMatch: etag })).written;
    },
  };
}
