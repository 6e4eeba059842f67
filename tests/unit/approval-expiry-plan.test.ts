import { describe, expect, it } from "vitest";
import { parseListing } from "../../lib/aws/fetch-client.js";
import { type Approval, s3ApprovalStore } from "../../lib/slack/approvals.js";
import { expiredApproval, expiredMessage, judgeApproval } from "../../lib/slack/expiry.js";

const NOW = new Date("2026-12-01T12:00:00.000Z");
const ID = "00000000-0000-4000-8000-000000000001";
const PREFIX = "slack/approvals/";
const base: Approval = {
  id: ID,
  runbook: "scale-down",
  system: "flash-sale",
  input: { service: "flash-sale-service" },
  requester: "U0ALICE",
  channel: "C0OPS",
  createdAt: "2026-12-01T11:00:00.000Z",
  expiresAt: "2026-12-01T11:30:00.000Z",
  state: "pending",
};
const message = { channel: "C0OPS", ts: "1700000000.000001" };
const judge = (body: unknown, key = `${PREFIX}${ID}.json`) =>
  judgeApproval({ key, prefix: PREFIX, body: typeof body === "string" ? body : JSON.stringify(body), now: NOW });

describe("judgeApproval: the sweep's rules in order", () => {
  it.each([
    ["a key outside the approvals layout", `${PREFIX}x/${ID}.json`, base, "invalid", /^not an approval key/],
    ["a key under another prefix", `slack/seen/${ID}.json`, base, "invalid", /^not an approval key/],
    ["a body that is not JSON", undefined, "{oops", "invalid", /^not valid JSON$/],
    ["JSON that is not an approval", undefined, { id: ID }, "invalid", /^not an approval record/],
    ["an unknown state", undefined, { ...base, state: "rejected" }, "invalid", /^not an approval record/],
    ["an expiresAt that is no time", undefined, { ...base, expiresAt: "soon" }, "invalid", /^not an approval record/],
    ["an id that is not its key's", undefined, { ...base, id: ID.replace(/1$/, "2") }, "invalid", /is not its key's/],
    [
      "approved, past its time",
      undefined,
      { ...base, state: "approved", approvedBy: "U0BOB" },
      "keep",
      /^approved by U0BOB/,
    ],
    [
      "expired, audited, no message to replace",
      undefined,
      { ...base, state: "expired", expiredAt: "x", auditedAt: "x" },
      "keep",
      /^already expired \(closed at x\)$/,
    ],
    [
      "expired, audited, its message replaced",
      undefined,
      { ...base, state: "expired", expiredAt: "x", auditedAt: "x", message, messageClosedAt: "x" },
      "keep",
      /^already expired \(closed at x\)$/,
    ],
    [
      "expired, audited, its message refused for good by Slack",
      undefined,
      { ...base, state: "expired", expiredAt: "x", auditedAt: "x", message, messageUnreplaceable: "message_not_found" },
      "keep",
      /^already expired \(closed at x\)$/,
    ],
    [
      "expired, its audit record not written",
      undefined,
      { ...base, state: "expired", expiredAt: "x", message, messageClosedAt: "x" },
      "finish",
      /^already expired \(closed at x\), not finished: its audit record$/,
    ],
    [
      "expired, its message not replaced",
      undefined,
      { ...base, state: "expired", expiredAt: "x", auditedAt: "x", message },
      "finish",
      /^already expired \(closed at x\), not finished: its message replaced$/,
    ],
    [
      "expired by a run that died after the write",
      undefined,
      { ...base, state: "expired", expiredAt: "x", message },
      "finish",
      /not finished: its audit record and its message replaced$/,
    ],
    [
      "pending, before its time",
      undefined,
      { ...base, expiresAt: "2026-12-01T12:00:00.001Z" },
      "keep",
      /^pending until/,
    ],
  ])("%s → %s", (_what, key, body, kind, reason) => {
    const verdict = judge(body, key);
    expect(verdict.kind).toBe(kind);
    expect("reason" in verdict ? verdict.reason : "").toMatch(reason);
  });

  it("expires a pending request at its expiresAt exactly (the moment Approve starts refusing it)", () => {
    expect(judge({ ...base, expiresAt: NOW.toISOString() }).kind).toBe("expire");
    expect(judge(base)).toEqual({ kind: "expire", approval: base });
  });

  it("finishes only the steps not done: the audit record, the message (when there is one)", () => {
    const steps = (body: Partial<Approval>) => {
      const verdict = judge({ ...base, state: "expired", expiredAt: "x", ...body });
      return verdict.kind === "finish" ? verdict.steps : undefined;
    };
    expect(steps({ message })).toEqual({ audit: true, message: true });
    expect(steps({})).toEqual({ audit: true, message: false });
    expect(steps({ auditedAt: "x", message })).toEqual({ audit: false, message: true });
    expect(steps({ auditedAt: "x", message, messageClosedAt: "x" })).toBeUndefined();
  });

  it("writes state expired with the time, keeping everything the request said", () => {
    expect(expiredApproval(base, NOW)).toEqual({ ...base, state: "expired", expiredAt: NOW.toISOString() });
  });

  it("the expired message names who asked for what, says nothing ran, and has no button", () => {
    const message = expiredMessage(base);
    expect(message.text).toMatch(/^⌛ Expired: <@U0ALICE> asks to apply \*scale-down\* on \*flash-sale\*/);
    expect(message.text).toContain("Nobody approved it by 2026-12-01T11:30:00.000Z: nothing was run.");
    expect(message.blocks.map((b) => b.type)).toEqual(["section"]);
  });
});

describe("parseListing (ListObjectsV2's ListBucketResult)", () => {
  it("reads keys and ETags with XML entities, and the continuation token of a truncated page", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>true</IsTruncated>
      <Contents><Key>slack/approvals/a&amp;b.json</Key><ETag>&quot;e1&quot;</ETag></Contents>
      <Contents><Key>slack/approvals/c.json</Key><ETag>"e2"</ETag></Contents>
      <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>`;
    expect(parseListing(xml)).toEqual({
      objects: [
        { key: "slack/approvals/a&b.json", etag: '"e1"' },
        { key: "slack/approvals/c.json", etag: '"e2"' },
      ],
      nextToken: "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
    });
  });

  it("has no token on the last page, and no objects when nothing matched", () => {
    expect(
      parseListing("<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>"),
    ).toEqual({
      objects: [],
    });
  });
});

describe("the approval store's listing", () => {
  it("follows continuation tokens page by page, under its own prefix only", async () => {
    const asked: { prefix: string; token?: string }[] = [];
    const pages: Record<string, { objects: { key: string }[]; nextToken?: string }> = {
      "": { objects: [{ key: "slack/approvals/a.json" }], nextToken: "t1" },
      t1: { objects: [{ key: "slack/approvals/b.json" }] },
    };
    const store = s3ApprovalStore({
      s3: {
        putObject: async () => ({ written: false }),
        getObject: async () => undefined,
        listObjects: async (_bucket, options) => {
          asked.push(options);
          return pages[options.token ?? ""] ?? { objects: [] };
        },
      },
      bucket: "state",
      prefix: "slack/approvals",
    });
    const keys: string[] = [];
    for await (const object of store.list()) keys.push(object.key);
    expect(keys).toEqual(["slack/approvals/a.json", "slack/approvals/b.json"]);
    expect(asked).toEqual([{ prefix: "slack/approvals/" }, { prefix: "slack/approvals/", token: "t1" }]);
  });
});
