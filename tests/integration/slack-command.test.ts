import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createExpiryHandler } from "../../functions/approval-expiry.js";
import { createRuntime } from "../../functions/runtime.js";
import {
  type CommandLogger,
  createSlackCommandHandler,
  RUN_ACTION_PREFIX,
  type WorkerEvent,
} from "../../functions/slack.js";
import { createWorkerHandler } from "../../functions/worker.js";
import { type AwsFetchClient, awsFetchClient } from "../../lib/aws/fetch-client.js";
import {
  type AlarmFacts,
  alarmMessage,
  RUN_ACTION_PREFIX as BLOCKS_RUN_ACTION_PREFIX,
} from "../../lib/notify/blocks.js";
import { createSlackPoster } from "../../lib/notify/slack.js";
import type { SlackAccessTable } from "../../lib/slack/access.js";
import { type ApprovalPosting, s3ApprovalStore } from "../../lib/slack/approvals.js";
import { type SlackAuditRecord, s3SlackAudit } from "../../lib/slack/audit.js";
import { slackGroupLookup } from "../../lib/slack/groups.js";
import { memoryReplayGuard } from "../../lib/slack/replay.js";
import { slackSignature } from "../../lib/slack/verify.js";
import { ReportBuilder } from "../../runbooks/report.js";
import type { Runbook } from "../../runbooks/types.js";
import { type RecordedInvoke, STAND_IN_CREDENTIALS, startAwsStandIn } from "../helpers/aws-stand-in.js";
import { memoryLogger, recordingNotifier, testClients } from "../helpers/context.js";
import { serveFunctionUrl } from "../helpers/function-url.js";
import { type RecordingServer, startSlackServer } from "../helpers/notify-servers.js";

const SECRET = "test-signing-secret-0123456789abcdef";
const ALICE = "U0ALICE01";
const BOB = "U0BOB0002";
const MALLORY = "U0MALLORY";
const OPS_CHANNEL = "C0OPS0001";
const GROUP = "S0ONCALL1";

const table: SlackAccessTable = {
  systems: {
    "flash-sale": {
      name: "Flash Sale",
      runbooks: {
        probe: { users: [ALICE], userGroups: [GROUP], channels: [OPS_CHANNEL], destructive: false, description: "p" },
        "probe-destructive": {
          users: [ALICE, BOB],
          userGroups: [],
          channels: [OPS_CHANNEL],
          destructive: true,
          description: "d",
        },
      },
    },
  },
  workers: {
    probe: "ops-autopilot-test-worker-probe",
    "probe-destructive": "ops-autopilot-test-worker-probe-destructive",
    status: "ops-autopilot-test-worker-status",
  },
};

/** A runbook that records how it was called. */
function probe(name: string, destructive: boolean) {
  const calls: { input: unknown; dryRun: boolean }[] = [];
  const runbook: Runbook = {
    name,
    description: "records how it was called",
    destructive,
    input: z.strictObject({ note: z.string().optional() }),
    permissions: () => [],
    async run(ctx, input) {
      calls.push({ input, dryRun: ctx.dryRun });
      const report = new ReportBuilder(ctx, name);
      report.add({ resource: "flash-sale-service", action: "probe", status: ctx.dryRun ? "would-do" : "done" });
      return report.finish({ summary: `probed ${name}` });
    },
  };
  return { runbook, calls };
}

const lambdaContext = { getRemainingTimeInMillis: () => 60_000, awsRequestId: "req-1" } as unknown as Context;

let slack: RecordingServer;
let groups: { url: string; close(): Promise<void> };
/** Lambda and S3 as a real HTTP server speaking their APIs; the handler reaches it through its own SigV4 client. */
let aws: Awaited<ReturnType<typeof startAwsStandIn>>;
let client: AwsFetchClient;
/** The asynchronous invocations Lambda received (the stand-in's record). */
let invoked: RecordedInvoke[];
let logs: { level: string; message: string; fields?: Record<string, unknown> }[];
let served: { url: string; close(): Promise<void> };
const probes = { plain: probe("probe", false), destructive: probe("probe-destructive", true) };

const logger: CommandLogger = {
  info: (message, fields) => void logs.push({ level: "info", message, ...(fields ? { fields } : {}) }),
  warn: (message, fields) => void logs.push({ level: "warn", message, ...(fields ? { fields } : {}) }),
  error: (message, fields) => void logs.push({ level: "error", message, ...(fields ? { fields } : {}) }),
};

const AUDIT_BUCKET = "audit";
/** The command function's audit records, as written to the audit bucket (oldest first). */
function auditRecords(): SlackAuditRecord[] {
  return [...aws.objects.entries()]
    .filter(([key]) => key.startsWith(`${AUDIT_BUCKET}/audit/`))
    .map(([, o]) => JSON.parse(o.body) as SlackAuditRecord);
}

/** What the worker's audit sink was handed: the report's run and who asked. */
const audited: { runbook: string; dryRun: boolean; requestedBy?: string }[] = [];

/** The worker a real asynchronous invocation would start, over the same runbooks. */
function worker() {
  const { logger: workerLogger, lines } = memoryLogger();
  const runtime = createRuntime(
    {
      registry: [probes.plain.runbook, probes.destructive.runbook],
      logger: workerLogger,
      notify: recordingNotifier(),
      now: () => new Date(),
      clientsFor: () => testClients(),
      audit: {
        record: async (report, who) =>
          void audited.push({
            runbook: report.runbook,
            dryRun: report.dryRun,
            ...(who?.requestedBy ? { requestedBy: who.requestedBy } : {}),
          }),
      },
    },
    { OPS_SLACK_RESPONSE_URL_PREFIX: `${slack.url}/commands/` },
  );
  return { run: createWorkerHandler(runtime), lines };
}

beforeAll(async () => {
  aws = await startAwsStandIn();
  invoked = aws.invokes;
  client = awsFetchClient({
    region: "us-east-1",
    endpoints: { s3: `${aws.url}/s3`, lambda: `${aws.url}/lambda` },
    credentials: () => STAND_IN_CREDENTIALS,
  });
  slack = await startSlackServer();
  // Slack's usergroups.users.list: BOB is in the on-call group.
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const ok = url.pathname === "/api/usergroups.users.list" && req.headers.authorization === "Bearer xoxb-test";
    const users = url.searchParams.get("usergroup") === GROUP ? [BOB] : [];
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify(ok ? { ok, users } : { ok: false, error: "invalid_auth" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  groups = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const handler = createSlackCommandHandler({
    table,
    signingSecret: async () => SECRET,
    replay: memoryReplayGuard({ now: () => new Date() }),
    lambda: client,
    logger,
    now: () => new Date(),
    groupsOf: slackGroupLookup({ token: async () => "xoxb-test", apiUrl: groups.url, now: () => new Date() }),
    responseUrlPrefix: `${slack.url}/commands/`,
    audit: s3SlackAudit({ s3: client, bucket: AUDIT_BUCKET, knownSystems: Object.keys(table.systems) }),
  });
  served = await serveFunctionUrl(handler);
});

afterAll(async () => {
  await served.close();
  await slack.close();
  await groups.close();
  await aws.close();
});

beforeEach(() => {
  invoked.length = 0;
  logs = [];
  slack.requests.length = 0;
  probes.plain.calls.length = 0;
  probes.destructive.calls.length = 0;
});

let sequence = 0;
function form(fields: { text: string; user?: string; channel?: string; responseUrl?: string }): string {
  sequence++;
  return new URLSearchParams({
    token: "deprecated-verification-token",
    team_id: "T0TEAM001",
    channel_id: fields.channel ?? OPS_CHANNEL,
    user_id: fields.user ?? ALICE,
    command: "/ops",
    text: fields.text,
    response_url: fields.responseUrl ?? `${slack.url}/commands/T0TEAM001/${sequence}/abc`,
    trigger_id: `${sequence}.1.abc`,
  }).toString();
}

async function send(body: string, options: { timestamp?: number; signature?: string; omit?: string[] } = {}) {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": timestamp,
    "x-slack-signature": options.signature ?? slackSignature(SECRET, timestamp, body),
  };
  for (const name of options.omit ?? []) delete headers[name];
  const res = await fetch(served.url, { method: "POST", headers, body });
  const text = await res.text();
  return {
    status: res.status,
    text,
    json: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : undefined,
  };
}

function payloadOf(input: RecordedInvoke | undefined): WorkerEvent {
  return JSON.parse(input?.payload ?? "{}") as WorkerEvent;
}

describe("/ops over a Function URL", () => {
  it("accepts an allowed command at once, invokes the worker asynchronously, and the report reaches response_url", async () => {
    // Prepare
    const body = form({ text: "probe flash-sale note=hello" });
    // Act
    const answer = await send(body);
    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({
      response_type: "ephemeral",
      text: "Accepted: probe on flash-sale. The report will be posted here.",
    });
    expect(invoked).toHaveLength(1);
    expect(invoked[0]?.functionName).toBe("ops-autopilot-test-worker-probe");
    expect(invoked[0]?.invocationType).toBe("Event");
    const event = payloadOf(invoked[0]);
    expect(event).toMatchObject({
      runbook: "probe",
      system: "flash-sale",
      input: { note: "hello" },
      requestedBy: `slack:${ALICE}`,
      dryRun: false,
    });
    // What Lambda would do with the event: run the worker, which posts the report to the response URL.
    const report = await worker().run(event, lambdaContext);
    expect(report.status).toBe("succeeded");
    expect(probes.plain.calls).toEqual([{ input: { note: "hello" }, dryRun: false }]);
    // The audit log says who asked.
    expect(audited.at(-1)).toEqual({ runbook: "probe", dryRun: false, requestedBy: `slack:${ALICE}` });
    // The command function's own record: who, what (input keys, not values), where, when, the result.
    const decision = auditRecords().at(-1);
    expect(decision).toMatchObject({
      event: "authorized",
      who: ALICE,
      where: OPS_CHANNEL,
      what: { runbook: "probe", system: "flash-sale", inputKeys: ["note"], apply: false, dryRun: false },
      result: "invoking ops-autopilot-test-worker-probe",
    });
    expect(JSON.stringify(decision)).not.toContain("hello");
    expect([...aws.objects.keys()].at(-1)).toMatch(
      /^audit\/audit\/flash-sale\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d+Z-slack-authorized-[0-9a-f]{12}\.json$/,
    );
    expect(slack.requests).toHaveLength(1);
    const posted = slack.requests[0];
    expect(posted?.path).toBe(new URL(event.responseUrl).pathname);
    expect(posted?.body).toMatchObject({ response_type: "in_channel", replace_original: false });
    expect(JSON.stringify(posted?.body.blocks)).toContain("probed probe");
    expect(logs.find((l) => l.message === "slack command accepted")?.fields).toMatchObject({
      user: ALICE,
      channel: OPS_CHANNEL,
      runbook: "probe",
      system: "flash-sale",
      dryRun: false,
    });
  });

  it("accepts a body that is not base64-encoded (the other shape Function URLs send)", async () => {
    const plain = createSlackCommandHandler({
      table,
      signingSecret: async () => SECRET,
      replay: memoryReplayGuard({ now: () => new Date() }),
      lambda: client,
      logger,
      now: () => new Date(),
    });
    const server = await serveFunctionUrl(plain, { base64: false });
    try {
      const body = form({ text: "help" });
      const ts = String(Math.floor(Date.now() / 1000));
      const res = await fetch(server.url, {
        method: "POST",
        headers: { "x-slack-request-timestamp": ts, "x-slack-signature": slackSignature(SECRET, ts, body) },
        body,
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { text: string }).text).toContain("/ops list");
    } finally {
      await server.close();
    }
  });

  it("runs a destructive runbook as a dry run unless --apply", async () => {
    const answer = await send(form({ text: "probe-destructive flash-sale" }));
    expect(answer.json.text).toBe(
      "Accepted: probe-destructive on flash-sale as a dry run. The report will be posted here.",
    );
    const event = payloadOf(invoked[0]);
    expect(event.dryRun).toBe(true);
    await worker().run(event, lambdaContext);
    expect(probes.destructive.calls).toEqual([{ input: {}, dryRun: true }]);
    expect(JSON.stringify(slack.requests[0]?.body)).toContain("dry run");
  });

  it("refuses an applied destructive runbook (no approval flow yet): nothing invoked", async () => {
    const answer = await send(form({ text: "probe-destructive flash-sale --apply" }));
    expect(answer.status).toBe(200);
    expect(answer.json.text).toMatch(
      /^Refused: probe-destructive is destructive: applying it needs a second person's approval/,
    );
    expect(invoked).toHaveLength(0);
  });

  it("allows a member of an allowed user group (Slack's usergroups API), refuses a non-member", async () => {
    expect((await send(form({ text: "probe flash-sale", user: BOB }))).json.text).toMatch(/^Accepted/);
    expect((await send(form({ text: "probe flash-sale", user: MALLORY }))).json.text).toBe(
      "Refused: you are not allowed to run probe on flash-sale. Nothing was run.",
    );
    expect(invoked.map((i) => payloadOf(i).requestedBy)).toEqual([`slack:${BOB}`]);
  });

  describe("refused, nothing invoked, logged without the body", () => {
    const refusedCases: [
      string,
      () => Promise<{ status: number; json?: { text: string } }>,
      number,
      string | RegExp,
    ][] = [
      [
        "a bad signature",
        () => send(form({ text: "probe flash-sale" }), { signature: slackSignature("wrong", 1, "x") }),
        401,
        "bad-signature",
      ],
      [
        "a stale timestamp (signed correctly 6 minutes ago)",
        () => send(form({ text: "probe flash-sale" }), { timestamp: Math.floor(Date.now() / 1000) - 360 }),
        401,
        "stale-timestamp",
      ],
      [
        "no signature header",
        () => send(form({ text: "probe flash-sale" }), { omit: ["x-slack-signature"] }),
        401,
        "missing-signature",
      ],
      [
        "no timestamp header",
        () => send(form({ text: "probe flash-sale" }), { omit: ["x-slack-request-timestamp"] }),
        401,
        "missing-timestamp",
      ],
      ["an unknown user", () => send(form({ text: "probe flash-sale", user: MALLORY })), 200, /you are not allowed/],
      [
        "the wrong channel",
        () => send(form({ text: "probe flash-sale", channel: "C0RANDOM1" })),
        200,
        /from this channel/,
      ],
      ["an unknown system", () => send(form({ text: "probe ode" })), 200, /unknown system "ode"; known: flash-sale/],
      [
        "a runbook the system does not allow",
        () => send(form({ text: "backup flash-sale" })),
        200,
        /allowed: probe, probe-destructive/,
      ],
      [
        "a response URL that is not Slack's",
        () => send(form({ text: "probe flash-sale", responseUrl: "https://evil.example/x" })),
        200,
        /missing user_id, channel_id or response_url/,
      ],
    ];
    it.each(refusedCases)("%s", async (_name, act, status, reason) => {
      const auditedBefore = auditRecords().length;
      const answer = await act();
      // Audited with who, what, where, when and the result, unless the request had no trustworthy identity.
      const added = auditRecords().slice(auditedBefore);
      if (status === 401) expect(added).toEqual([]);
      else {
        expect(added).toHaveLength(1);
        expect(added[0]).toMatchObject({
          event: "refused",
          where: expect.stringMatching(/^C0/),
          who: expect.stringMatching(/^U0/),
        });
        expect(added[0]?.result).toMatch(reason);
        expect(Date.parse(added[0]?.when ?? "")).toBeGreaterThan(Date.now() - 60_000);
        expect(added[0]?.what.runbook).toBeDefined();
      }
      expect(answer.status).toBe(status);
      expect(invoked).toHaveLength(0);
      const refusal = logs.find((l) => l.message.startsWith("refused slack"));
      expect(refusal?.level).toBe("warn");
      expect(String(refusal?.fields?.reason)).toMatch(reason);
      // Logged without the body: no form field, no response URL, no text.
      const logged = JSON.stringify(logs);
      expect(logged).not.toContain("response_url=");
      expect(logged).not.toContain("text=");
      expect(logged).not.toContain("commands/T0TEAM001");
      expect(logged).not.toContain("deprecated-verification-token");
      if (status === 401) expect(answer.json).toBeUndefined();
      else expect(answer.json?.text).toMatch(/^(Refused: .*Nothing was run\.|This request lacks)/);
    });
  });

  it("refuses a replayed request: the second delivery of the same signed body is 401 and invokes nothing", async () => {
    const body = form({ text: "probe flash-sale" });
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = slackSignature(SECRET, timestamp, body);
    expect((await send(body, { timestamp, signature })).status).toBe(200);
    expect((await send(body, { timestamp, signature })).status).toBe(401);
    expect(invoked).toHaveLength(1);
    expect(logs.filter((l) => l.fields?.reason === "replayed")).toHaveLength(1);
  });

  it("answers help, list and plan without invoking anything", async () => {
    expect((await send(form({ text: "" }))).json.text).toContain("/ops <runbook> <system>");
    expect((await send(form({ text: "list" }))).json.text).toBe(
      "• *flash-sale* (Flash Sale): probe, probe-destructive (destructive)",
    );
    expect((await send(form({ text: "list", user: MALLORY }))).json.text).toContain("probe");
    const plan = (await send(form({ text: "plan flash-sale" }))).json.text;
    expect(plan).toContain("`probe-destructive` (destructive: dry run unless --apply)");
    expect(plan).toContain(`<@${ALICE}>`);
    expect((await send(form({ text: "probe flash-sale note" }))).json.text).toBe(
      '"note" is not key=value, --apply or --dry-run',
    );
    expect(invoked).toHaveLength(0);
  });

  it("the worker posts why a run did not happen (bad input), and still fails the invocation", async () => {
    const event = {
      ...payloadOf(await sendAndTake("probe flash-sale colour=red")),
      responseUrl: `${slack.url}/commands/x/1/y`,
    };
    await expect(worker().run(event, lambdaContext)).rejects.toThrow();
    expect(probes.plain.calls).toHaveLength(0);
    expect(String(slack.requests[0]?.body.text)).toMatch(/^🔴 probe on flash-sale did not run: .*colour/s);
  });

  it("the worker posts nothing to a response URL outside Slack's", async () => {
    const event = { ...payloadOf(await sendAndTake("probe flash-sale")), responseUrl: "http://127.0.0.1:9/elsewhere" };
    const { run, lines } = worker();
    await run(event, lambdaContext);
    expect(probes.plain.calls).toHaveLength(1);
    expect(slack.requests).toHaveLength(0);
    expect(lines().some((l) => l.message === "report not posted to the Slack response URL")).toBe(true);
  });
});

describe("/ops status", () => {
  const statusProbe = probe("status", false);
  /** The status worker: the worker over a runbook named status (its reads are tested in status-runbook.test.ts). */
  const statusWorker = () =>
    createWorkerHandler(
      createRuntime(
        {
          registry: [statusProbe.runbook],
          logger: memoryLogger().logger,
          notify: recordingNotifier(),
          now: () => new Date(),
          clientsFor: () => testClients(),
        },
        { OPS_SLACK_RESPONSE_URL_PREFIX: `${slack.url}/commands/` },
      ),
    );

  it("of a system: acknowledged at once, read by the status worker, the report posted to the response URL", async () => {
    const answer = await send(form({ text: "status flash-sale" }));
    expect(answer.json).toEqual({
      response_type: "ephemeral",
      text: "Reading the status of flash-sale; it will be posted here.",
    });
    expect(invoked.map((i) => [i.functionName, i.invocationType])).toEqual([
      ["ops-autopilot-test-worker-status", "Event"],
    ]);
    const event = payloadOf(invoked[0]);
    expect(event).toMatchObject({ runbook: "status", system: "flash-sale", dryRun: false, input: {} });
    expect(event.reply).toBeUndefined();
    await statusWorker()(event, lambdaContext);
    expect(JSON.stringify(slack.requests.at(-1)?.body.blocks)).toContain("probed status");
    expect(auditRecords().at(-1)).toMatchObject({
      event: "status",
      who: ALICE,
      where: OPS_CHANNEL,
      what: { system: "flash-sale" },
    });
  });

  it("of the fleet: one status read per system shown in the channel, each posting one line", async () => {
    const answer = await send(form({ text: "status" }));
    expect(answer.json.text).toBe("Reading the status of flash-sale; it will be posted here.");
    const events = invoked.map(payloadOf);
    expect(events.map((e) => [e.system, e.reply])).toEqual([["flash-sale", "line"]]);
    await statusWorker()(events[0], lambdaContext);
    const posted = slack.requests.at(-1)?.body;
    expect(posted?.blocks).toEqual([]);
    expect(posted?.text).toBe("[OK] flash-sale status: probed status");
    expect(String(posted?.text)).not.toContain("\n");
  });

  it.each([
    ["an unknown system", "status ode", OPS_CHANNEL, /^Refused: unknown system "ode"; known: flash-sale/],
    ["a channel the system does not name", "status flash-sale", "C0RANDOM1", /not shown in this channel/],
    ["the fleet from a channel no system names", "status", "C0RANDOM1", /no system shows its status in this channel/],
  ])("refuses %s: nothing read, the refusal audited", async (_name, text, channel, message) => {
    const before = auditRecords().length;
    const answer = await send(form({ text, channel }));
    expect(answer.json.text).toMatch(message);
    expect(invoked).toHaveLength(0);
    const added = auditRecords().slice(before);
    expect(added.map((r) => [r.event, r.where])).toEqual([["refused", channel]]);
  });

  it("an unknown system's refusal is filed under audit/_slack/, never under a name someone typed", async () => {
    await send(form({ text: "status ../../etc" }));
    const key = [...aws.objects.keys()].at(-1) ?? "";
    expect(key).toMatch(/^audit\/audit\/_slack\/\d{4}\/\d{2}\/\d{2}\/.*-slack-refused-[0-9a-f]{12}\.json$/);
  });
});

async function sendAndTake(text: string): Promise<RecordedInvoke | undefined> {
  await send(form({ text }));
  return invoked.at(-1);
}

describe("approval of an applied destructive runbook", () => {
  let skewMs = 0;
  const clock = () => new Date(Date.now() + skewMs);
  let approving: { url: string; close(): Promise<void> };
  let ids = 0;

  beforeAll(async () => {
    approving = await serveFunctionUrl(
      createSlackCommandHandler({
        table,
        signingSecret: async () => SECRET,
        replay: memoryReplayGuard({ now: clock }),
        lambda: client,
        logger,
        now: clock,
        responseUrlPrefix: `${slack.url}/commands/`,
        approvals: {
          store: s3ApprovalStore({ s3: client, bucket: "slack-state", prefix: "slack/approvals" }),
          ttlMinutes: 30,
          newId: () => `00000000-0000-4000-8000-${String(++ids).padStart(12, "0")}`,
        },
        audit: s3SlackAudit({ s3: client, bucket: AUDIT_BUCKET, knownSystems: Object.keys(table.systems) }),
      }),
    );
  });
  afterAll(async () => {
    await approving.close();
  });
  beforeEach(() => {
    skewMs = 0;
  });

  async function post(body: string) {
    const ts = String(Math.floor(clock().getTime() / 1000));
    const res = await fetch(approving.url, {
      method: "POST",
      headers: { "x-slack-request-timestamp": ts, "x-slack-signature": slackSignature(SECRET, ts, body) },
      body,
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }
  /** A click on the Approve button of the message the worker posted (its response URL is that message's). */
  const click = (user: string, approvalId: string, channel = OPS_CHANNEL) =>
    post(
      new URLSearchParams({
        payload: JSON.stringify({
          type: "block_actions",
          user: { id: user },
          channel: { id: channel },
          response_url: `${slack.url}/commands/actions/${user}/${++sequence}`,
          actions: [{ action_id: "ops-approve", value: approvalId, type: "button" }],
        }),
      }).toString(),
    );

  /** Asks, and runs the dry run the way Lambda would: the worker posts the plan with the Approve button. */
  async function ask(text = "probe-destructive flash-sale --apply note=hi") {
    const answer = await post(form({ text }));
    const dryRun = payloadOf(invoked.at(-1));
    const id = dryRun.approval?.id ?? "";
    await worker().run(dryRun, lambdaContext);
    return { answer, id, dryRun, message: slack.requests.at(-1)?.body };
  }
  const lastPostText = () => String(slack.requests.at(-1)?.body.text);
  const stored = (id: string) => aws.objects.get(`slack-state/slack/approvals/${id}.json`)?.body;

  it("answers the requester at once and stores the pending request; only the dry run is started", async () => {
    const { answer, id, dryRun } = await ask();
    expect(answer.json.response_type).toBe("ephemeral");
    expect(answer.json.text).toMatch(/^<@U0ALICE01> asks to apply \*probe-destructive\* on \*flash-sale\* note=hi\./);
    expect(answer.json.text).toContain("Its dry-run plan and the Approve button will be posted in this channel.");
    expect(invoked.map((i) => payloadOf(i).dryRun)).toEqual([true]);
    expect(dryRun.approval).toEqual({ id, requester: ALICE, expiresAt: expect.any(String), channel: OPS_CHANNEL });
    expect(probes.destructive.calls).toEqual([{ input: { note: "hi" }, dryRun: true }]);
    const request = JSON.parse(stored(id) ?? "{}");
    expect(request).toMatchObject({ state: "pending", requester: ALICE, runbook: "probe-destructive" });
    expect(Date.parse(request.expiresAt) - Date.parse(request.createdAt)).toBe(30 * 60_000);
  });

  it("with the bot token, the worker posts the request by chat.postMessage and records its ts; the sweep replaces it once expired", async () => {
    const answer = await post(form({ text: "probe-destructive flash-sale --apply" }));
    expect(answer.status).toBe(200);
    const dryRun = payloadOf(invoked.at(-1));
    const id = dryRun.approval?.id ?? "";
    const bot = createSlackPoster({ token: async () => "xoxb-test", apiUrl: `${slack.url}/api/`, retries: 0 });
    const store = s3ApprovalStore({ s3: client, bucket: "slack-state", prefix: "slack/approvals" });
    const { logger: workerLogger } = memoryLogger();
    const run = createWorkerHandler(
      createRuntime(
        {
          registry: [probes.destructive.runbook],
          logger: workerLogger,
          notify: recordingNotifier(),
          now: () => new Date(),
          clientsFor: () => testClients(),
        },
        { OPS_SLACK_RESPONSE_URL_PREFIX: `${slack.url}/commands/` },
      ),
      { approvalPosting: { slack: bot, store } },
    );

    await run(dryRun, lambdaContext);

    const posted = slack.requests.filter((r) => r.path === "/api/chat.postMessage");
    expect(posted).toHaveLength(1);
    expect(posted[0]?.body.channel).toBe(OPS_CHANNEL);
    expect(JSON.stringify(posted[0]?.body.blocks)).toContain("ops-approve");
    // Not also through the response URL: one message, the one whose ts is kept.
    expect(slack.requests.filter((r) => r.path.startsWith("/commands/"))).toEqual([]);
    const recorded = JSON.parse(stored(id) ?? "{}");
    expect(recorded.message).toEqual({ channel: OPS_CHANNEL, ts: expect.stringMatching(/^1700000000\.\d{6}$/) });

    const later = new Date(Date.parse(recorded.expiresAt) + 60_000);
    const sweep = createExpiryHandler({
      aws: client,
      slack: bot,
      bucket: "slack-state",
      auditBucket: AUDIT_BUCKET,
      knownSystems: Object.keys(table.systems),
      now: () => later,
      logger,
    });
    await sweep({ scheduleId: "approval-expiry" });

    const update = slack.requests.find((r) => r.path === "/api/chat.update")?.body;
    expect(update).toMatchObject({ channel: OPS_CHANNEL, ts: recorded.message.ts });
    expect(JSON.stringify(update?.blocks)).not.toContain("ops-approve");
    expect(JSON.parse(stored(id) ?? "{}").state).toBe("expired");
    expect(
      auditRecords()
        .filter((r) => r.what.approval === id)
        .map((r) => r.event),
    ).toEqual(["approval-requested", "expired"]);
  });

  it("when Slack refuses the bot's post (e.g. not_in_channel), the request goes through the response URL as before", async () => {
    await post(form({ text: "probe-destructive flash-sale --apply" }));
    const dryRun = payloadOf(invoked.at(-1));
    const id = dryRun.approval?.id ?? "";
    const refusing = {
      post: async () => {
        throw new Error("Slack chat.postMessage to C0OPS0001 failed: not_in_channel");
      },
    };
    const store = s3ApprovalStore({ s3: client, bucket: "slack-state", prefix: "slack/approvals" });
    const { logger: workerLogger } = memoryLogger();
    const run = createWorkerHandler(
      createRuntime(
        {
          registry: [probes.destructive.runbook],
          logger: workerLogger,
          notify: recordingNotifier(),
          now: () => new Date(),
          clientsFor: () => testClients(),
        },
        { OPS_SLACK_RESPONSE_URL_PREFIX: `${slack.url}/commands/` },
      ),
      { approvalPosting: { slack: refusing, store } },
    );

    await run(dryRun, lambdaContext);

    const fallback = slack.requests.filter((r) => r.path.startsWith("/commands/"));
    expect(fallback).toHaveLength(1);
    expect(JSON.stringify(fallback[0]?.body.blocks)).toContain("ops-approve");
    expect(JSON.parse(stored(id) ?? "{}").message).toBeUndefined();
  });

  /** The worker with the bot poster and `store` (each test its own), as the deployment builds it. */
  function botWorker(store: ApprovalPosting["store"]) {
    const bot = createSlackPoster({ token: async () => "xoxb-test", apiUrl: `${slack.url}/api/`, retries: 0 });
    const { logger: workerLogger, lines } = memoryLogger();
    const run = createWorkerHandler(
      createRuntime(
        {
          registry: [probes.destructive.runbook],
          logger: workerLogger,
          notify: recordingNotifier(),
          now: () => new Date(),
          clientsFor: () => testClients(),
        },
        { OPS_SLACK_RESPONSE_URL_PREFIX: `${slack.url}/commands/` },
      ),
      { approvalPosting: { slack: bot, store } },
    );
    return { run, lines };
  }
  const botPosts = () => slack.requests.filter((r) => r.path === "/api/chat.postMessage");
  const responseUrlPosts = () => slack.requests.filter((r) => r.path.startsWith("/commands/"));

  it("when the bot posted but its ts cannot be recorded (S3 fails), nothing is posted again; the reason is logged", async () => {
    // Prepare
    await post(form({ text: "probe-destructive flash-sale --apply" }));
    const dryRun = payloadOf(invoked.at(-1));
    const id = dryRun.approval?.id ?? "";
    const real = s3ApprovalStore({ s3: client, bucket: "slack-state", prefix: "slack/approvals" });
    const failing = {
      read: real.read,
      recordMessage: async () => {
        throw new Error("S3 PutObject slack/approvals: HTTP 503 SlowDown");
      },
    };
    const { run, lines } = botWorker(failing);

    // Act
    await run(dryRun, lambdaContext);

    // Assess: one request message, the bot's; no second one with a live button through the response URL.
    expect(botPosts()).toHaveLength(1);
    expect(responseUrlPosts()).toEqual([]);
    expect(JSON.parse(stored(id) ?? "{}").message).toBeUndefined();
    const warning = lines().find((l) => l.message === "approval request posted, its ts not recorded");
    expect(warning).toMatchObject({ level: "WARN", approval: id, posted: true, recorded: false });
    expect(String(warning?.reason)).toContain("HTTP 503 SlowDown");
  });

  it("a duplicate delivery of the worker's event posts no second request: the first message stays the recorded one", async () => {
    // Prepare
    await post(form({ text: "probe-destructive flash-sale --apply" }));
    const dryRun = payloadOf(invoked.at(-1));
    const id = dryRun.approval?.id ?? "";
    const store = s3ApprovalStore({ s3: client, bucket: "slack-state", prefix: "slack/approvals" });
    await botWorker(store).run(dryRun, lambdaContext);
    const first = JSON.parse(stored(id) ?? "{}").message;

    // Act
    const { run, lines } = botWorker(store);
    await run(dryRun, lambdaContext);

    // Assess
    expect(botPosts()).toHaveLength(1);
    expect(responseUrlPosts()).toEqual([]);
    expect(first).toEqual({ channel: OPS_CHANNEL, ts: expect.stringMatching(/^1700000000\.\d{6}$/) });
    expect(JSON.parse(stored(id) ?? "{}").message).toEqual(first);
    const logged = lines().find((l) => l.message === "approval request posted");
    expect(String(logged?.reason)).toContain(`already posted as ${first.channel} ${first.ts}`);
  });

  it("posts the dry-run plan and the Approve button in one message, in the channel", async () => {
    const { id, message } = await ask();
    expect(message?.response_type).toBe("in_channel");
    const blocks = message?.blocks as {
      type: string;
      text?: { text: string };
      elements?: { action_id: string; value: string }[];
    }[];
    const plan = JSON.stringify(blocks);
    // The request, the dry run's report with its action ("would-do" on the service), then the button.
    expect(blocks[0]?.text?.text).toMatch(/^<@U0ALICE01> asks to apply \*probe-destructive\*/);
    expect(plan).toContain("probe-destructive (dry run) succeeded");
    expect(plan).toContain("`flash-sale-service` probe: *would-do*");
    const actions = blocks.at(-1);
    expect(actions?.type).toBe("actions");
    expect(actions?.elements?.map((e) => [e.action_id, e.value])).toEqual([["ops-approve", id]]);
  });

  it("a second authorized person approves: the worker runs it for real, once; the audit log names both", async () => {
    const { id } = await ask();
    expect((await click(BOB, id)).status).toBe(200);
    const real = invoked.map(payloadOf).filter((e) => !e.dryRun);
    expect(real).toEqual([
      expect.objectContaining({ runbook: "probe-destructive", requestedBy: `slack:${ALICE} approved by slack:${BOB}` }),
    ]);
    expect(lastPostText()).toMatch(/^<@U0BOB0002> approved probe-destructive on flash-sale/);
    expect(slack.requests.at(-1)?.body.replace_original).toBe(true);
    // The run's own audit record (the worker's sink) names the requester and the approver.
    await worker().run(real[0] as WorkerEvent, lambdaContext);
    expect(audited.at(-1)).toEqual({
      runbook: "probe-destructive",
      dryRun: false,
      requestedBy: `slack:${ALICE} approved by slack:${BOB}`,
    });
    // The command function's records: the request by Alice, the approval by Bob.
    const records = auditRecords().filter((r) => r.what.approval === id);
    expect(records.map((r) => [r.event, r.who, r.where])).toEqual([
      ["approval-requested", ALICE, OPS_CHANNEL],
      ["approved", BOB, OPS_CHANNEL],
    ]);
    expect(records[1]?.what).toMatchObject({
      requester: ALICE,
      approver: BOB,
      runbook: "probe-destructive",
      system: "flash-sale",
    });
    // A second click (another person, or the same click delivered again) runs nothing more.
    await click(BOB, id);
    expect(invoked.map(payloadOf).filter((e) => !e.dryRun)).toHaveLength(1);
    expect(lastPostText()).toMatch(/^Refused: already approved by <@U0BOB0002>/);
  });

  it("a dry run that fails posts its report without an Approve button", async () => {
    const answer = await post(form({ text: "probe-destructive flash-sale --apply" }));
    expect(answer.status).toBe(200);
    const event = { ...payloadOf(invoked.at(-1)) };
    const failing = createWorkerHandler(
      createRuntime(
        {
          registry: [
            {
              ...probes.destructive.runbook,
              run: async (ctx) =>
                new ReportBuilder(ctx, "probe-destructive").finish({ summary: "x", status: "failed" }),
            },
          ],
          logger: memoryLogger().logger,
          notify: recordingNotifier(),
          now: () => new Date(),
          clientsFor: () => testClients(),
        },
        { OPS_SLACK_RESPONSE_URL_PREFIX: `${slack.url}/commands/` },
      ),
    );
    await failing(event, lambdaContext);
    const body = slack.requests.at(-1)?.body;
    expect(String(body?.text)).toContain("The dry run did not succeed: nothing to approve");
    expect(((body?.blocks ?? []) as { type: string }[]).some((b) => b.type === "actions")).toBe(false);
  });

  it.each([
    [
      "self-approval",
      async (id: string) => click(ALICE, id),
      /^Refused: you asked for it: a second person must approve/,
      "approval-refused",
    ],
    [
      "an unauthorized person",
      async (id: string) => click(MALLORY, id),
      /^Refused: you are not allowed to run/,
      "approval-refused",
    ],
    [
      "another channel",
      async (id: string) => click(BOB, id, "C0RANDOM1"),
      /^Refused: approve it in the channel/,
      "approval-refused",
    ],
    [
      "a missing approval",
      async () => click(BOB, "00000000-0000-4000-8000-999999999999"),
      /^Refused: this approval request does not exist/,
      "approval-refused",
    ],
    [
      "an expired approval (31 minutes later)",
      async (id: string) => {
        skewMs = 31 * 60_000;
        return click(BOB, id);
      },
      /^Refused: this request expired at/,
      "expired",
    ],
  ])(
    "refuses %s: nothing runs, the clicker is told, the request stays pending, the refusal is audited",
    async (_name, act, message, event) => {
      const { id } = await ask();
      const before = stored(id);
      invoked.length = 0;
      logs.length = 0;
      const auditedBefore = auditRecords().length;
      expect((await act(id)).status).toBe(200);
      expect(invoked).toHaveLength(0);
      expect(lastPostText()).toMatch(message);
      expect(slack.requests.at(-1)?.body.response_type).toBe("ephemeral");
      expect(stored(id)).toBe(before);
      expect(logs.some((l) => l.message === "refused slack approval")).toBe(true);
      const added = auditRecords().slice(auditedBefore);
      expect(added).toHaveLength(1);
      expect(added[0]).toMatchObject({ event, where: expect.any(String), result: expect.stringMatching(/^refused: /) });
      expect(added.some((r) => r.event === "approved")).toBe(false);
    },
  );

  it("refuses an unsigned click before reading anything, and audits nothing", async () => {
    const { id } = await ask();
    invoked.length = 0;
    const auditedBefore = auditRecords().length;
    const body = new URLSearchParams({
      payload: JSON.stringify({ type: "block_actions", actions: [{ action_id: "ops-approve", value: id }] }),
    }).toString();
    const res = await fetch(approving.url, {
      method: "POST",
      headers: { "x-slack-request-timestamp": "1", "x-slack-signature": "v0=00" },
      body,
    });
    expect(res.status).toBe(401);
    expect(invoked).toHaveLength(0);
    expect(JSON.parse(stored(id) ?? "{}").state).toBe("pending");
    expect(auditRecords()).toHaveLength(auditedBefore);
  });
});

describe("run buttons under an alarm message", () => {
  const facts = {
    name: "ops-autopilot-production-flash-sale-api-latency",
    id: "flash-sale-api-latency",
    system: "flash-sale",
    systemName: "Flash Sale",
    description: "Latency > 500 ms",
    severity: "warning" as const,
    state: "ALARM" as const,
    reason: "Threshold Crossed",
    metric: "AWS/ApplicationELB TargetResponseTime",
    since: "2026-12-01T12:00:00Z",
    nextRunbooks: ["probe", "probe-destructive"],
  };

  function clickOf(
    user: string,
    actionIndex: number,
    channel = OPS_CHANNEL,
    shown: typeof facts & Partial<AlarmFacts> = facts,
  ) {
    const actions = alarmMessage(shown).blocks.find((b) => b.type === "actions") as {
      elements: { action_id: string; value: string }[];
    };
    const button = actions.elements[actionIndex];
    const body = new URLSearchParams({
      payload: JSON.stringify({
        type: "block_actions",
        user: { id: user },
        channel: { id: channel },
        response_url: `${slack.url}/commands/actions/${++sequence}`,
        actions: [{ action_id: button?.action_id, value: button?.value, type: "button" }],
      }),
    }).toString();
    return send(body);
  }

  it("the alarm message carries one button per next runbook, with the prefix /ops looks for", () => {
    const actions = alarmMessage(facts).blocks.find((b) => b.type === "actions") as {
      elements: { action_id: string }[];
    };
    expect(actions.elements.map((e) => e.action_id)).toEqual([
      `${RUN_ACTION_PREFIX}probe`,
      `${RUN_ACTION_PREFIX}probe-destructive`,
    ]);
    expect(RUN_ACTION_PREFIX).toBe(BLOCKS_RUN_ACTION_PREFIX);
    expect(alarmMessage(facts, { resolvedAt: "2026-12-01T12:10:00Z" }).blocks.some((b) => b.type === "actions")).toBe(
      false,
    );
  });

  it("a click is /ops typed by the clicker: authorized by the catalogue, a destructive runbook as a dry run", async () => {
    expect((await clickOf(ALICE, 0)).status).toBe(200);
    expect((await clickOf(ALICE, 1)).status).toBe(200);
    expect(invoked.map((i) => [i.functionName, payloadOf(i).dryRun, payloadOf(i).requestedBy])).toEqual([
      ["ops-autopilot-test-worker-probe", false, `slack:${ALICE}`],
      ["ops-autopilot-test-worker-probe-destructive", true, `slack:${ALICE}`],
    ]);
    expect(String(slack.requests.at(-1)?.body.text)).toMatch(/^Accepted: probe-destructive on flash-sale as a dry run/);
  });

  /** The alarm as alarms/events.ts shows it with its labelled buttons ("Roll back", "Dry-run scale out"). */
  const labelled = {
    ...facts,
    nextRunbooks: [],
    buttons: [
      { label: "Roll back", runbook: "probe-destructive", input: { note: "from-alarm" } },
      { label: "Dry-run scale out", runbook: "probe", dryRun: true },
    ],
  };

  it("Roll back and Dry-run scale out go through the same authorization; the scale-out click is a dry run", async () => {
    expect((await clickOf(ALICE, 0, OPS_CHANNEL, labelled)).status).toBe(200);
    expect((await clickOf(ALICE, 1, OPS_CHANNEL, labelled)).status).toBe(200);
    expect(invoked.map((i) => [i.functionName, payloadOf(i).dryRun, payloadOf(i).input])).toEqual([
      // Destructive: a click never applies it (applying it needs /ops … --apply and an approval).
      ["ops-autopilot-test-worker-probe-destructive", true, { note: "from-alarm" }],
      // Not destructive, but the button says dry run: a dry run.
      ["ops-autopilot-test-worker-probe", true, {}],
    ]);
    expect(
      auditRecords()
        .slice(-2)
        .map((r) => [r.event, r.who, r.what.runbook, r.what.dryRun]),
    ).toEqual([
      ["authorized", ALICE, "probe-destructive", true],
      ["authorized", ALICE, "probe", true],
    ]);
    // Mallory's click on Roll back: refused, audited, nothing invoked.
    invoked.length = 0;
    await clickOf(MALLORY, 0, OPS_CHANNEL, labelled);
    expect(invoked).toHaveLength(0);
    expect(auditRecords().at(-1)).toMatchObject({
      event: "refused",
      who: MALLORY,
      what: { runbook: "probe-destructive" },
    });
  });

  it.each([
    ["an unknown user", MALLORY, OPS_CHANNEL, /you are not allowed/],
    ["the wrong channel", ALICE, "C0RANDOM1", /from this channel/],
  ])("refuses a click by %s: nothing invoked, the clicker is told", async (_name, user, channel, reason) => {
    await clickOf(user, 0, channel);
    expect(invoked).toHaveLength(0);
    expect(String(slack.requests.at(-1)?.body.text)).toMatch(reason);
    expect(slack.requests.at(-1)?.body.response_type).toBe("ephemeral");
  });
});
