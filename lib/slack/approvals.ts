import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorName } from "../errors.js";

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

/** The in-channel message asking for approval, with the button (its value: the approval id). */
export function approvalRequestMessage(approval: Approval) {
  const args = Object.entries(approval.input)
    .map(([k, v]) => ` ${k}=${v}`)
    .join("");
  const text = `<@${approval.requester}> asks to apply *${approval.runbook}* on *${approval.system}*${args}. The dry-run plan follows in this channel. A second authorized person may approve until ${approval.expiresAt}.`;
  return {
    response_type: "in_channel",
    text,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text } },
      {
        type: "actions",
        elements: [
          {
            type: "button",
            action_id: APPROVE_ACTION,
            style: "danger",
            text: { type: "plain_text", text: `Approve ${approval.runbook}` },
            value: approval.id,
          },
        ],
      },
    ],
  };
}

const CONFLICT = new Set(["PreconditionFailed", "ConditionalRequestConflict"]);
const GONE = new Set(["NoSuchKey", "NotFound"]);

/** Approvals as JSON objects under `prefix` in the Slack state bucket. */
export function s3ApprovalStore(options: { s3: S3Client; bucket: string; prefix: string }): ApprovalStore {
  const key = (id: string) => `${options.prefix}/${id}.json`;
  const put = (approval: Approval, condition: { IfNoneMatch?: string; IfMatch?: string }) =>
    options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: key(approval.id),
        Body: JSON.stringify(approval),
        ContentType: "application/json",
        ...condition,
      }),
    );
  return {
    async create(approval) {
      await put(approval, { IfNoneMatch: "*" });
    },
    async read(id) {
      if (!/^[0-9a-f-]{36}$/.test(id)) return undefined;
      try {
        const out = await options.s3.send(new GetObjectCommand({ Bucket: options.bucket, Key: key(id) }));
        const approval = JSON.parse((await out.Body?.transformToString("utf8")) ?? "") as Approval;
        return { approval, ...(out.ETag ? { etag: out.ETag } : {}) };
      } catch (error) {
        if (GONE.has(errorName(error))) return undefined;
        throw error;
      }
    },
    async approve(approval, etag) {
      try {
        // Without an ETag there is nothing to be conditional on: refuse rather than risk running twice.
        if (!etag) return false;
        await put(approval, { IfMatch: etag });
        return true;
      } catch (error) {
        if (CONFLICT.has(errorName(error)) || GONE.has(errorName(error))) return false;
        throw error;
      }
    },
  };
}
