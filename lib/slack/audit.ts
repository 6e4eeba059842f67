import { randomBytes } from "node:crypto";
import type { AwsFetchClient } from "../aws/fetch-client.js";

/**
 * What the `/ops` command function decided, for the audit log: who (Slack user), what (runbook, system,
 * input keys — never values, apply or dry run, the approval), where (channel), when, and the result.
 * Written next to the runs' own records (lib/audit.ts) in the audit bucket, one object per decision, so
 * that "who asked for this rollback and who approved it" is answered from S3 alone.
 *
 * Not recorded: requests with a bad or missing signature and replays (they carry no identity one can
 * trust, or repeat one already recorded); those are log lines only.
 */
export type SlackAuditEvent =
  | "refused"
  | "authorized"
  | "approval-requested"
  | "approved"
  | "approval-refused"
  | "expired"
  | "status";

/** One decision. */
export interface SlackAuditRecord {
  event: SlackAuditEvent;
  /** Slack user id of the person who typed or clicked; `ops-autopilot:approval-expiry` for an expiry nobody clicked. */
  who: string;
  what: {
    command?: string;
    runbook?: string;
    system?: string;
    inputKeys?: string[];
    apply?: boolean;
    dryRun?: boolean;
    approval?: string;
    requester?: string;
    approver?: string;
  };
  /** Slack channel id. */
  where: string;
  /** ISO time of the decision. */
  when: string;
  /** `refused: <reason>`, `invoked <worker>`, `worker not invoked: <error>`, … */
  result: string;
}

/** Where the command function's decisions go. */
export interface SlackAudit {
  /**
   * Records one decision. With `once` (an id of the decision, e.g. the approval's), its key is that id
   * rather than a random one, so a retry of the same decision (same `when`) finds it written and records
   * nothing more: a sweep that died after the audit write may write it again and still leave one record.
   */
  record(record: SlackAuditRecord, options?: { once?: string }): Promise<void>;
}

/** Key prefix of decisions not about a known system (an unknown system typed, `/ops status` of the fleet). */
export const SLACK_AUDIT_FALLBACK = "_slack";

/**
 * Key of a decision: `audit/<system>/YYYY/MM/DD/<time>-slack-<event>-<random>.json` (`<suffix>`: random, or
 * the decision's own id when it must be written once), the system's own
 * partition when the system is one of `knownSystems` (a typed name never becomes a key), else
 * `audit/_slack/…`.
 */
export function slackAuditKey(record: SlackAuditRecord, knownSystems: readonly string[], suffix: string): string {
  const system =
    record.what.system && knownSystems.includes(record.what.system) ? record.what.system : SLACK_AUDIT_FALLBACK;
  const day = record.when.slice(0, 10).replace(/-/g, "/");
  const stamp = record.when.replace(/[-:.]/g, "");
  return `audit/${system}/${day}/${stamp}-slack-${record.event}-${suffix}.json`;
}

/** Decisions as objects created once (`If-None-Match: *`, Content-MD5 for the bucket's Object Lock). */
export function s3SlackAudit(options: {
  s3: Pick<AwsFetchClient, "putObject">;
  bucket: string;
  knownSystems: readonly string[];
  suffix?: () => string;
}): SlackAudit {
  const suffix = options.suffix ?? (() => randomBytes(6).toString("hex"));
  return {
    async record(record, how) {
      const out = await options.s3.putObject({
        bucket: options.bucket,
        key: slackAuditKey(record, options.knownSystems, how?.once ?? suffix()),
        body: `${JSON.stringify({ type: "slack", ...record })}\n`,
        contentType: "application/json",
        ifNoneMatch: "*",
        md5: true,
        serverSideEncryption: "AES256",
      });
      // Create-only either way: an existing `once` key is this decision recorded by an earlier try.
      if (!out.written && !how?.once) throw new Error("audit record key exists already");
    },
  };
}
