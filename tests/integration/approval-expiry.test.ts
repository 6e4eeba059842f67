import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { plannedApprovalExpiry } from "../../deploy/slack.js";
import {
  createExpiryHandler,
  EXPIRY_DEADLINE_MARGIN_MS,
  EXPIRY_SLACK_CALLS,
  expiryHandlerFromEnv,
} from "../../functions/approval-expiry.js";
import { type AwsFetchClient, awsFetchClientFromEnv } from "../../lib/aws/fetch-client.js";
import { ValidationError } from "../../lib/errors.js";
import { type LocalS3, startLocalS3 } from "../../lib/local/s3.js";
import { createSlackPoster } from "../../lib/notify/slack.js";
import type { SlackAccessTable } from "../../lib/slack/access.js";
import { APPROVE_ACTION, type Approval, checkApproval, s3ApprovalStore } from "../../lib/slack/approvals.js";
import { s3SlackAudit } from "../../lib/slack/audit.js";
import type { CommandLogger } from "../../lib/slack/command.js";
import { EXPIRY_ACTOR } from "../../lib/slack/expiry.js";
import { interaction } from "../../lib/slack/interaction.js";
import { memoryReplayGuard } from "../../lib/slack/replay.js";
import { startAwsStandIn } from "../helpers/aws-stand-in.js";
import { type SentCommand, violationOf } from "../helpers/iam-meta.js";
import { type RecordingServer, startSlackServer } from "../helpers/notify-servers.js";

/**
 * The approvals' expiry sweep against real parts: s3rver holds the records and the audit objects; a
 * local HTTP server speaks Slack's Web API and records each chat.update; the race (which needs S3's
 * conditional writes, which s3rver ignores: a PUT with a stale If-Match is stored) runs against the AWS
 * stand-in, which implements them as the S3 reference describes. Every call the sweep sends is held to
 * the policy the deployment plan declares for it (tests/helpers/iam-meta.ts's rules), and a dry run to
 * reads only.
 */

const NOW = new Date("2026-12-01T12:00:00.000Z");
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000).toISOString();
const ALICE = "U0ALICE";
const BOB = "U0BOB";
const CHANNEL = "C0OPS";

const table: SlackAccessTable = {
  systems: {
    "flash-sale": {
      name: "Flash Sale",
      runbooks: {
        "scale-down": { users: [ALICE, BOB], userGroups: [], channels: [CHANNEL], destructive: true, description: "d" },
      },
    },
  },
  workers: { "scale-down": "ops-autopilot-test-worker-scale-down" },
};

let dir: string;
let s3: LocalS3;
let slack: RecordingServer;
let buckets = 0;
let state: string;
let auditBucket: string;
let raw: AwsFetchClient;
let sent: SentCommand[];
let violations: string[];
let logs: string[];

const logger: CommandLogger = {
  info: (m) => void logs.push(m),
  warn: (m) => void logs.push(m),
  error: (m) => void logs.push(m),
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ops-expiry-"));
  s3 = await startLocalS3({ directory: join(dir, "s3"), buckets: [] });
  slack = await startSlackServer();
});
afterAll(async () => {
  await slack.close();
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Each test its own buckets: the sweep lists everything under the prefix. */
beforeEach(async () => {
  buckets++;
  state = `slack-state-${buckets}`;
  auditBucket = `audit-${buckets}`;
  for (const name of [state, auditBucket]) await s3.client().send(new CreateBucketCommand({ Bucket: name }));
  raw = awsFetchClientFromEnv({ ...s3.env, AWS_REGION: "us-east-1" });
  sent = [];
  violations = [];
  logs = [];
  slack.requests.length = 0;
});
afterEach(() => {
  expect(violations).toEqual([]);
});

/** The policy the deployment grants the sweep, for this test's buckets. */
function declared() {
  return plannedApprovalExpiry({
    table,
    region: "us-east-1",
    scope: { region: "us-east-1", accountId: "123456789012" },
    bucket: state,
    secretId: "ops-autopilot/test/slack",
    auditBucket,
  }).permissions;
}

/**
 * The client as the sweep sees it, each call mapped to its IAM action and resource and checked against
 * {@link declared}: ListBucket must stay under `slack/approvals/` (its `s3:prefix` condition) and audit
 * writes must be create-only (the `s3:if-none-match` condition).
 */
function recording(client: AwsFetchClient, dryRun: boolean): AwsFetchClient {
  const check = (action: string, resource: string, extra?: string) => {
    const one: SentCommand = { runbook: "approval-expiry", system: "(fleet)", dryRun, action, resource };
    sent.push(one);
    const violation = violationOf(one, declared()) ?? extra;
    if (violation) violations.push(violation);
  };
  return {
    ...client,
    listObjects: (bucket, options) => {
      const outside = options.prefix.startsWith("slack/approvals/") ? undefined : `listed ${options.prefix}`;
      check("s3:ListBucket", `arn:aws:s3:::${bucket}`, outside);
      return client.listObjects(bucket, options);
    },
    getObject: (bucket, key) => {
      check("s3:GetObject", `arn:aws:s3:::${bucket}/${key}`);
      return client.getObject(bucket, key);
    },
    putObject: (input) => {
      const replaces =
        input.key.startsWith("audit/") && input.ifNoneMatch !== "*" ? "audit write without If-None-Match" : undefined;
      check("s3:PutObject", `arn:aws:s3:::${input.bucket}/${input.key}`, replaces);
      return client.putObject(input);
    },
  };
}

function handlerFor(options: { dryRun?: boolean; client?: AwsFetchClient; bucket?: string; audit?: string } = {}) {
  return createExpiryHandler({
    aws: recording(options.client ?? raw, options.dryRun ?? false),
    slack: createSlackPoster({ token: async () => "xoxb-test", apiUrl: `${slack.url}/api/`, retries: 0 }),
    bucket: options.bucket ?? state,
    auditBucket: options.audit ?? auditBucket,
    knownSystems: Object.keys(table.systems),
    now: () => NOW,
    logger,
    ...(options.dryRun ? { dryRun: true } : {}),
  });
}

let ids = 0;
function approval(overrides: Partial<Approval> = {}): Approval {
  ids++;
  return {
    id: `00000000-0000-4000-8000-${String(ids).padStart(12, "0")}`,
    runbook: "scale-down",
    system: "flash-sale",
    input: { service: "flash-sale-service" },
    requester: ALICE,
    channel: CHANNEL,
    createdAt: minutes(-45),
    expiresAt: minutes(-15),
    state: "pending",
    message: { channel: CHANNEL, ts: `1700000000.${String(ids).padStart(6, "0")}` },
    ...overrides,
  };
}

const keyOf = (a: Pick<Approval, "id">) => `slack/approvals/${a.id}.json`;
async function put(a: Approval, client = raw, bucket = state) {
  await client.putObject({ bucket, key: keyOf(a), body: JSON.stringify(a), contentType: "application/json" });
}
async function stored(a: Pick<Approval, "id">, client = raw, bucket = state) {
  const out = await client.getObject(bucket, keyOf(a));
  return out ? { approval: JSON.parse(out.body) as Approval, body: out.body, etag: out.etag } : undefined;
}
async function auditRecords(client = raw, bucket = auditBucket) {
  const page = await client.listObjects(bucket, { prefix: "audit/" });
  return Promise.all(
    page.objects.map(async (o) => ({
      key: o.key,
      ...JSON.parse((await client.getObject(bucket, o.key))?.body ?? "{}"),
    })),
  );
}
const updates = () => slack.requests.filter((r) => r.path === "/api/chat.update");

describe("the approvals' expiry sweep", () => {
  it("expires a pending request past its time: record expired, audited, message replaced without its button", async () => {
    const late = approval();
    await put(late);

    const report = await handlerFor()({ scheduleId: "approval-expiry" });

    const after = await stored(late);
    expect(after?.approval).toMatchObject({ state: "expired", expiredAt: NOW.toISOString(), requester: ALICE });
    const audits = await auditRecords();
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      type: "slack",
      event: "expired",
      who: EXPIRY_ACTOR,
      what: {
        runbook: "scale-down",
        system: "flash-sale",
        approval: late.id,
        requester: ALICE,
        inputKeys: ["service"],
      },
      where: CHANNEL,
      when: NOW.toISOString(),
    });
    expect(audits[0].key).toMatch(/^audit\/flash-sale\/2026\/12\/01\//);
    // The approval's id is the key's: a retry of the same audit write finds it and leaves one record.
    expect(audits[0].key).toMatch(new RegExp(`-slack-expired-${late.id}\\.json$`));
    expect(audits[0].result).toContain(`expired at ${late.expiresAt}: nobody approved`);
    expect(updates()).toHaveLength(1);
    const update = updates()[0]?.body ?? {};
    expect(update).toMatchObject({ channel: CHANNEL, ts: late.message?.ts });
    expect(String(update.text)).toContain("Expired");
    expect(JSON.stringify(update.blocks)).not.toContain(APPROVE_ACTION);
    expect(JSON.stringify(update.blocks)).not.toContain('"actions"');
    expect(report).toMatchObject({ status: "succeeded", dryRun: false, metrics: { expired: 1, failed: 0 } });
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["expire-approval", "done"],
      ["record-audit", "done"],
      ["update-message", "done"],
      ["record-progress", "done"],
    ]);
    expect(after?.approval).toMatchObject({ auditedAt: NOW.toISOString(), messageClosedAt: NOW.toISOString() });
  });

  it("leaves a request that has not expired yet untouched: same bytes, same ETag, nothing posted", async () => {
    const fresh = approval({ createdAt: minutes(-5), expiresAt: minutes(25) });
    await put(fresh);
    const before = await stored(fresh);

    const report = await handlerFor()({});

    expect(await stored(fresh)).toEqual(before);
    expect(await auditRecords()).toEqual([]);
    expect(updates()).toEqual([]);
    expect(report.actions).toEqual([
      {
        resource: keyOf(fresh),
        action: "expire-approval",
        status: "skipped",
        reason: `pending until ${fresh.expiresAt}`,
        outcome: "kept",
      },
    ]);
    expect(sent.filter((s) => s.action === "s3:PutObject")).toEqual([]);
  });

  it("leaves an approved request untouched, even past its expiresAt", async () => {
    const approved = approval({ state: "approved", approvedBy: BOB, approvedAt: minutes(-20) });
    await put(approved);
    const before = await stored(approved);

    const report = await handlerFor()({});

    expect(await stored(approved)).toEqual(before);
    expect(await auditRecords()).toEqual([]);
    expect(updates()).toEqual([]);
    expect(report.actions[0]).toMatchObject({
      status: "skipped",
      reason: expect.stringContaining(`approved by ${BOB}`),
    });
  });

  it("a duplicate event (or a second run) changes nothing and posts nothing", async () => {
    const late = approval();
    await put(late);
    const handler = handlerFor();
    await handler({ scheduleId: "approval-expiry" });
    const afterFirst = await stored(late);
    const audits = (await auditRecords()).length;
    const posted = slack.requests.length;
    sent = [];

    const second = await handler({ scheduleId: "approval-expiry" });

    expect(await stored(late)).toEqual(afterFirst);
    expect((await auditRecords()).length).toBe(audits);
    expect(slack.requests.length).toBe(posted);
    expect(sent.filter((s) => s.action === "s3:PutObject")).toEqual([]);
    expect(second.metrics).toMatchObject({ expired: 0, kept: 1 });
    expect(second.actions[0]?.reason).toBe(`already expired (closed at ${NOW.toISOString()})`);
  });

  /** Three runs of the same handler: what each wrote (PUTs) and posted (chat.update). */
  async function runs(handler: ReturnType<typeof handlerFor>, count: number) {
    const out: { report: Awaited<ReturnType<typeof handler>>; puts: string[]; updates: number }[] = [];
    for (let i = 0; i < count; i++) {
      sent = [];
      const before = updates().length;
      const report = await handler({ scheduleId: "approval-expiry" });
      const puts = sent.filter((c) => c.action === "s3:PutObject").map((c) => c.resource ?? "");
      out.push({ report, puts, updates: updates().length - before });
    }
    return out;
  }

  it("an audit write that failed is written by the next run, once; the run after writes and posts nothing", async () => {
    // Prepare: the audit bucket refuses the first write (the sweep's first run).
    const late = approval();
    await put(late);
    let auditWrites = 0;
    const flaky: AwsFetchClient = {
      ...raw,
      putObject: async (input) => {
        if (input.bucket === auditBucket && ++auditWrites === 1) throw new Error("S3 PutObject: HTTP 503 SlowDown");
        return raw.putObject(input);
      },
    };

    // Act
    const [first, second, third] = await runs(handlerFor({ client: flaky }), 3);

    // Assess
    expect(first?.report.status).toBe("partial");
    expect(first?.report.actions.find((a) => a.action === "record-audit")).toMatchObject({
      status: "failed",
      reason: expect.stringContaining("SlowDown"),
    });
    expect(first?.updates).toBe(1);
    expect(second?.report.actions.map((a) => [a.action, a.status])).toEqual([
      ["expire-approval", "skipped"],
      ["record-audit", "done"],
      ["record-progress", "done"],
    ]);
    expect(second?.report.actions[0]?.reason).toBe(
      `already expired (closed at ${NOW.toISOString()}), not finished: its audit record`,
    );
    expect(second?.report).toMatchObject({ status: "succeeded", metrics: { expired: 0, finished: 1 } });
    expect(second?.updates).toBe(0);
    const audits = await auditRecords();
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ event: "expired", when: NOW.toISOString(), what: { approval: late.id } });
    expect(third).toMatchObject({ puts: [], updates: 0, report: { metrics: { finished: 0, kept: 1 } } });
    expect(third?.report.actions[0]?.reason).toBe(`already expired (closed at ${NOW.toISOString()})`);
  });

  it("a chat.update that failed is retried by the next run, without a second audit record", async () => {
    // Prepare: Slack answers the first run's chat.update with a 500 (the poster here does not retry).
    const late = approval();
    await put(late);
    slack.failNext(1);

    // Act
    const [first, second, third] = await runs(handlerFor(), 3);

    // Assess
    expect(first?.report.actions.find((a) => a.action === "update-message")?.status).toBe("failed");
    expect(first?.report.status).toBe("partial");
    expect(second?.report.actions.map((a) => [a.action, a.status])).toEqual([
      ["expire-approval", "skipped"],
      ["update-message", "done"],
      ["record-progress", "done"],
    ]);
    expect(second?.updates).toBe(1);
    expect(updates().at(-1)?.body).toMatchObject({ channel: CHANNEL, ts: late.message?.ts });
    expect(await auditRecords()).toHaveLength(1);
    expect((await stored(late))?.approval).toMatchObject({ state: "expired", messageClosedAt: NOW.toISOString() });
    expect(third).toMatchObject({ puts: [], updates: 0 });
  });

  it("a record a dead run left expired (no step recorded) is audited and its message replaced by the next run", async () => {
    const late = approval({ state: "expired", expiredAt: minutes(-5) });
    await put(late);

    const [first, second] = await runs(handlerFor(), 2);

    expect(first?.report.metrics).toMatchObject({ finished: 1, failed: 0 });
    expect(first?.updates).toBe(1);
    const audits = await auditRecords();
    // The audit record says when the record was closed, not when it was finished.
    expect(audits).toMatchObject([{ event: "expired", when: minutes(-5), what: { approval: late.id } }]);
    expect(second).toMatchObject({ puts: [], updates: 0 });
  });

  it("a message Slack says is gone (message_not_found) is recorded as such and not tried again", async () => {
    // Prepare: a Slack whose chat.update answers ok:false, message_not_found (someone deleted the message).
    let calls = 0;
    const refusing = createServer((_req, res) => {
      calls++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, error: "message_not_found" }));
    });
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    const late = approval();
    await put(late);
    const apiUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/api/`;
    const handler = createExpiryHandler({
      aws: recording(raw, false),
      slack: createSlackPoster({ token: async () => "xoxb-test", apiUrl, retries: 0 }),
      bucket: state,
      auditBucket,
      knownSystems: Object.keys(table.systems),
      now: () => NOW,
      logger,
    });

    // Act
    const first = await handler({});
    sent = [];
    const second = await handler({});
    await new Promise((resolve) => refusing.close(resolve));

    // Assess
    expect(first.status).toBe("succeeded");
    expect(first.actions.find((a) => a.action === "update-message")).toMatchObject({
      status: "skipped",
      reason: expect.stringContaining("for good (message_not_found)"),
    });
    expect((await stored(late))?.approval.messageUnreplaceable).toContain("message_not_found");
    expect(calls).toBe(1);
    expect(sent.filter((c) => c.action === "s3:PutObject")).toEqual([]);
    expect(second.actions[0]?.reason).toBe(`already expired (closed at ${NOW.toISOString()})`);
  });

  it("a dry run of an unfinished expired record says what it would finish, and writes and posts nothing", async () => {
    const late = approval({ state: "expired", expiredAt: minutes(-5) });
    await put(late);
    const before = await stored(late);

    const report = await handlerFor({ dryRun: true })({ dryRun: true });

    expect(await stored(late)).toEqual(before);
    expect(await auditRecords()).toEqual([]);
    expect(slack.requests).toEqual([]);
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["expire-approval", "skipped"],
      ["record-audit", "would-do"],
      ["update-message", "would-do"],
    ]);
  });

  it("a dry run reports what it would expire and sends reads only: nothing written, nothing posted", async () => {
    const late = approval();
    const fresh = approval({ expiresAt: minutes(10) });
    await put(late);
    await put(fresh);
    const before = [await stored(late), await stored(fresh)];

    const report = await handlerFor({ dryRun: true })({ dryRun: true });

    expect([await stored(late), await stored(fresh)]).toEqual(before);
    expect(await auditRecords()).toEqual([]);
    expect(slack.requests).toEqual([]);
    expect(new Set(sent.map((s) => s.action))).toEqual(new Set(["s3:ListBucket", "s3:GetObject"]));
    expect(report).toMatchObject({ dryRun: true, status: "succeeded", metrics: { expired: 1, kept: 1 } });
    expect(report.summary).toContain("would expire 1");
    expect(report.actions.filter((a) => a.status === "would-do").map((a) => a.action)).toEqual([
      "expire-approval",
      "update-message",
    ]);
  });

  it("an event asking for a dry run is one, even when the deployment is live", async () => {
    const late = approval();
    await put(late);
    const report = await handlerFor()({ dryRun: "true" });
    expect(report.dryRun).toBe(true);
    expect((await stored(late))?.approval.state).toBe("pending");
  });

  it("stops between records before the Lambda deadline and reports partial: the rest is the next run's", async () => {
    const late = approval();
    await put(late);
    const report = await handlerFor()({}, { getRemainingTimeInMillis: () => 5_000 });
    expect(report.status).toBe("partial");
    expect(report.summary).toContain("stopped before the deadline");
    expect((await stored(late))?.approval.state).toBe("pending");
    const next = await handlerFor()({}, { getRemainingTimeInMillis: () => 60_000 });
    expect(next.metrics.expired).toBe(1);
  });

  it("with Slack hanging, the deployed sweep finishes its record within the margin and stops before the deadline", async () => {
    // Prepare: a Slack that accepts chat.update and never answers; two records past their time.
    const hanging = createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    let attempts = 0;
    hanging.on("request", () => void attempts++);
    const long = { createdAt: "2020-01-01T00:00:00.000Z", expiresAt: "2020-01-01T00:30:00.000Z" };
    const [one, two] = [approval(long), approval(long)];
    for (const a of [one, two]) if (a) await put(a);
    const aws: AwsFetchClient = {
      ...recording(raw, false),
      getSecretString: async () => JSON.stringify({ token: "xoxb-test" }),
    };
    const handler = expiryHandlerFromEnv(
      {
        OPS_SLACK_REPLAY_BUCKET: state,
        OPS_AUDIT_BUCKET: auditBucket,
        OPS_SLACK_SECRET_ID: "ops-autopilot/test/slack",
        OPS_SLACK_SYSTEMS: "flash-sale",
        OPS_SLACK_API_URL: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/api/`,
      },
      aws,
    );
    const remainingMs = EXPIRY_DEADLINE_MARGIN_MS + 1_000;
    const started = Date.now();

    // Act
    const report = await handler({}, { getRemainingTimeInMillis: () => remainingMs - (Date.now() - started) });
    const elapsed = Date.now() - started;
    hanging.closeAllConnections();
    await new Promise((resolve) => hanging.close(resolve));

    // Assess: the first record took its Slack retries (2 attempts) and no more; the second is the next run's.
    expect(elapsed).toBeLessThan(remainingMs);
    expect(attempts).toBe(EXPIRY_SLACK_CALLS.retries + 1);
    expect(report.status).toBe("partial");
    expect(report.summary).toContain("stopped before the deadline");
    expect(report.actions.find((a) => a.action === "update-message")?.status).toBe("failed");
    const states = [(await stored(one as Approval))?.approval.state, (await stored(two as Approval))?.approval.state];
    expect(states.sort()).toEqual(["expired", "pending"]);
  }, 70_000);

  it("reports and skips what is not an approval, and deletes nothing", async () => {
    const late = approval();
    await put(late);
    const junk = [
      { key: "slack/approvals/00000000-0000-4000-8000-999999999991.json", body: "{not json" },
      { key: "slack/approvals/00000000-0000-4000-8000-999999999992.json", body: '{"hello":"world"}' },
      { key: "slack/approvals/notes.txt", body: "keep me" },
      // A record whose id is not its key's: never written under another's name.
      { key: "slack/approvals/00000000-0000-4000-8000-999999999993.json", body: JSON.stringify(approval()) },
    ];
    for (const j of junk) await raw.putObject({ bucket: state, key: j.key, body: j.body });
    // Outside the prefix: never listed, never read.
    const outside = approval();
    await raw.putObject({ bucket: state, key: `slack/seen/${outside.id}.json`, body: JSON.stringify(outside) });

    const report = await handlerFor()({});

    for (const j of junk) expect((await raw.getObject(state, j.key))?.body).toBe(j.body);
    expect(JSON.parse((await raw.getObject(state, `slack/seen/${outside.id}.json`))?.body ?? "{}").state).toBe(
      "pending",
    );
    expect(sent.some((s) => s.resource?.includes("slack/seen/"))).toBe(false);
    const reasons = Object.fromEntries(
      report.actions.filter((a) => a.resource.startsWith("slack/")).map((a) => [a.resource, a.reason]),
    );
    expect(reasons[junk[0]?.key ?? ""]).toBe("not valid JSON: left as it is");
    expect(reasons[junk[1]?.key ?? ""]).toMatch(/^not an approval record \(needs id, runbook/);
    expect(reasons[junk[2]?.key ?? ""]).toMatch(/^not an approval key \(expected slack\/approvals\/<uuid>\.json\)/);
    expect(reasons[junk[3]?.key ?? ""]).toMatch(/is not its key's/);
    expect(report.metrics).toMatchObject({ expired: 1, invalid: 4 });
    expect((await stored(late))?.approval.state).toBe("expired");
  });

  it("says the message could not be closed when the record holds no ts (posted through a response URL)", async () => {
    const { message: _message, ...withoutTs } = approval();
    await put(withoutTs);
    const report = await handlerFor()({});
    expect((await stored(withoutTs))?.approval.state).toBe("expired");
    expect(updates()).toEqual([]);
    expect(report.actions.find((a) => a.action === "update-message")).toMatchObject({
      status: "skipped",
      reason: expect.stringContaining("no message ts recorded"),
    });
  });

  it("a bad event is refused with what is wrong and what is allowed, before anything is read", async () => {
    const late = approval();
    await put(late);
    const handler = handlerFor();
    for (const bad of [{ dryrun: true }, "sweep", { dryRun: "maybe" }, { scheduleId: 7 }]) {
      const error = await handler(bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(String((error as Error).message)).toContain('allowed: {"dryRun": true|false, "scheduleId": "<id>"}');
    }
    const unknownKey = await handler({ dryrun: true }).catch((e: unknown) => e as Error);
    expect(String(unknownKey)).toContain("dryrun");
    expect(sent).toEqual([]);
    expect((await stored(late))?.approval.state).toBe("pending");
  });

  it("bad settings are refused naming each variable and what is allowed", () => {
    expect(() => expiryHandlerFromEnv({}, raw)).toThrow(ValidationError);
    const error = (() => {
      try {
        expiryHandlerFromEnv({ OPS_SLACK_REPLAY_BUCKET: "s", OPS_SLACK_SYSTEMS: "Flash Sale" }, raw);
      } catch (e) {
        return String(e);
      }
      return "";
    })();
    expect(error).toContain("OPS_SLACK_REPLAY_BUCKET: the Slack state bucket");
    expect(error).toContain("OPS_AUDIT_BUCKET");
    expect(error).toContain("OPS_SLACK_SECRET_ID");
    expect(error).toContain("OPS_SLACK_SYSTEMS: must be system ids separated by commas");
  });

  it("a click on a request the sweep expired is refused with the expired reason, and nothing runs", async () => {
    const late = approval();
    await put(late);
    await handlerFor()({});
    const invoked: string[] = [];
    const deps = {
      table,
      signingSecret: async () => "unused",
      replay: memoryReplayGuard({ now: () => NOW }),
      lambda: { invokeEvent: async (name: string) => void invoked.push(name) },
      logger,
      // The clicker's clock says it is still early: the record's state refuses it all the same.
      now: () => new Date(Date.parse(late.expiresAt) - 60_000),
      responseUrlPrefix: `${slack.url}/commands/`,
      approvals: {
        store: s3ApprovalStore({ s3: raw, bucket: state, prefix: "slack/approvals" }),
        ttlMinutes: 30,
        newId: () => "unused",
      },
      audit: s3SlackAudit({ s3: raw, bucket: auditBucket, knownSystems: ["flash-sale"] }),
    };
    const click = {
      type: "block_actions",
      user: { id: BOB },
      channel: { id: CHANNEL },
      response_url: `${slack.url}/commands/click-1`,
      actions: [{ action_id: APPROVE_ACTION, value: late.id }],
    };

    await interaction(deps, JSON.stringify(click));

    expect(invoked).toEqual([]);
    expect((await stored(late))?.approval.state).toBe("expired");
    const answer = slack.requests.find((r) => r.path === "/commands/click-1")?.body;
    expect(String(answer?.text)).toContain(`this request expired at ${late.expiresAt}`);
    const refusals = (await auditRecords()).filter((r) => r.who === BOB);
    expect(refusals).toMatchObject([{ event: "expired", result: expect.stringContaining("this request expired") }]);
  });
});

describe("approve against expire at the same moment (S3 conditional writes: the AWS stand-in)", () => {
  let standIn: Awaited<ReturnType<typeof startAwsStandIn>>;
  let client: AwsFetchClient;
  beforeAll(async () => {
    standIn = await startAwsStandIn();
    client = awsFetchClientFromEnv(standIn.env);
  });
  afterAll(async () => {
    await standIn.close();
  });

  it("s3rver would not have caught it: it stores a PUT whose If-Match is stale", async () => {
    await raw.putObject({ bucket: state, key: "probe.json", body: "1" });
    expect((await raw.putObject({ bucket: state, key: "probe.json", body: "2", ifMatch: '"stale"' })).written).toBe(
      true,
    );
  });

  it("a click that approves between the sweep's read and its write wins: nothing expired, audited or posted", async () => {
    const late = approval();
    await put(late, client, state);
    const approvals = s3ApprovalStore({ s3: client, bucket: state, prefix: "slack/approvals" });
    // The approver reads and writes with If-Match right after the sweep has read the record.
    let clicked = false;
    const racing: AwsFetchClient = {
      ...client,
      getObject: async (bucket, key) => {
        const out = await client.getObject(bucket, key);
        if (!clicked && key === keyOf(late)) {
          clicked = true;
          const read = await approvals.read(late.id);
          const approved = { ...late, state: "approved" as const, approvedBy: BOB, approvedAt: NOW.toISOString() };
          expect(await approvals.approve(approved, read?.etag)).toBe(true);
        }
        return out;
      },
    };
    const before = slack.requests.length;

    const report = await handlerFor({ client: racing, bucket: state, audit: auditBucket })({});

    expect(clicked).toBe(true);
    expect((await stored(late, client, state))?.approval).toMatchObject({ state: "approved", approvedBy: BOB });
    expect([...standIn.objects.keys()].filter((k) => k.startsWith(`${auditBucket}/`))).toEqual([]);
    expect(slack.requests.length).toBe(before);
    expect(report.actions).toEqual([
      {
        resource: expect.stringContaining(late.id),
        action: "expire-approval",
        status: "skipped",
        reason: "the record changed since it was read (decided at the same moment): nothing written",
        outcome: "lost",
      },
    ]);
    expect(report.metrics).toMatchObject({ expired: 0, lost: 1 });
    expect(report.summary).toContain("1 decided at the same moment");
  });

  it("a click that comes after the sweep's write loses: approve's If-Match on the older ETag is refused", async () => {
    const late = approval();
    await put(late, client, state);
    const approvals = s3ApprovalStore({ s3: client, bucket: state, prefix: "slack/approvals" });
    const readByClicker = await approvals.read(late.id);

    await handlerFor({ client, bucket: state, audit: auditBucket })({});

    const approved = { ...late, state: "approved" as const, approvedBy: BOB, approvedAt: NOW.toISOString() };
    expect(await approvals.approve(approved, readByClicker?.etag)).toBe(false);
    expect((await stored(late, client, state))?.approval.state).toBe("expired");
  });

  it("a run that died after its audit write, before recording it: the next run's create-only write leaves one record", async () => {
    // Prepare: the progress write (the record with auditedAt) fails, as if the Lambda died there.
    const late = approval();
    await put(late, client, state);
    const dying: AwsFetchClient = {
      ...client,
      putObject: async (input) => {
        if (input.key === keyOf(late) && input.body.includes("auditedAt")) throw new Error("Task timed out");
        return client.putObject(input);
      },
    };
    const auditKeys = () => [...standIn.objects.keys()].filter((k) => k.startsWith(`${auditBucket}/`));

    // Act
    const first = await handlerFor({ client: dying, bucket: state, audit: auditBucket })({});
    const second = await handlerFor({ client, bucket: state, audit: auditBucket })({});

    // Assess
    expect(first.actions.find((a) => a.action === "record-progress")).toMatchObject({ status: "failed" });
    expect(second.actions.find((a) => a.action === "record-audit")?.status).toBe("done");
    expect(second.metrics).toMatchObject({ finished: 1, failed: 0 });
    expect(auditKeys()).toHaveLength(1);
    expect((await stored(late, client, state))?.approval).toMatchObject({
      state: "expired",
      auditedAt: NOW.toISOString(),
      messageClosedAt: NOW.toISOString(),
    });
  });

  it("approve's own check refuses a record in state expired, whatever the clock says", () => {
    const expired = approval({ state: "expired", expiresAt: minutes(30), expiredAt: NOW.toISOString() });
    expect(checkApproval(expired, { approver: BOB, now: NOW })).toEqual({
      ok: false,
      reason: `this request expired at ${expired.expiresAt}: ask again`,
    });
  });
});
