import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { DescribeServicesCommand, ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import type { Context } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type AlarmDefinition, fleetAlarms } from "../../alarms/index.js";
import { createAlarmHandler } from "../../functions/alarm.js";
import { createRuntime } from "../../functions/runtime.js";
import { createPagerDuty } from "../../lib/notify/pagerduty.js";
import { type Channels, createRoutingNotifier, deliver } from "../../lib/notify/router.js";
import { channelsFromSettings, parseNotifySettings } from "../../lib/notify/settings.js";
import { createSlackPoster } from "../../lib/notify/slack.js";
import { createSnsPublisher } from "../../lib/notify/sns.js";
import { runbooks } from "../../runbooks/index.js";
import { ReportBuilder } from "../../runbooks/report.js";
import { executeRun } from "../../runbooks/runner.js";
import type { Runbook } from "../../runbooks/types.js";
import { builtinFleet, builtinSystems, type Fleet, parseFleet } from "../../systems/index.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { conditionalS3 } from "../helpers/conditional-s3.js";
import { memoryLogger, testClients } from "../helpers/context.js";
import { type RecordingServer, startPagerDutyServer, startSlackServer } from "../helpers/notify-servers.js";

const fixture = (name: string) =>
  JSON.parse(
    readFileSync(join(import.meta.dirname, "../fixtures", `cloudwatch-alarm-state-change-${name}.json`), "utf8"),
  );

/** A fixture event for another alarm, or a later copy of it (new id, later timestamp). */
function eventFor(base: ReturnType<typeof fixture>, changes: { name?: string; id?: string; at?: string } = {}) {
  const event = structuredClone(base);
  if (changes.name) event.detail.alarmName = `ops-autopilot-production-${changes.name}`;
  if (changes.id) event.id = changes.id;
  if (changes.at) event.detail.state.timestamp = changes.at;
  return event;
}

const SLACK_TOKEN = "xoxb-1111-2222-secret-token";
const ROUTING_KEY = "R0UT1NGKEYSECRET000000000000000";

let slack: RecordingServer;
let pagerDuty: RecordingServer;
const snsMock = mockClient(SNSClient);
const sns = new SNSClient({ region: "us-east-1" });

beforeAll(async () => {
  slack = await startSlackServer();
  pagerDuty = await startPagerDutyServer();
});
afterAll(async () => {
  await slack.close();
  await pagerDuty.close();
});
beforeEach(() => {
  slack.requests.length = 0;
  pagerDuty.requests.length = 0;
  slack.recover();
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e" });
});

function channels(logger: Channels["logger"]): Channels {
  return {
    logger,
    slack: createSlackPoster({
      token: async () => SLACK_TOKEN,
      apiUrl: `${slack.url}/api/`,
      retries: 2,
      minTimeoutMs: 20,
    }),
    defaultSlackChannel: "C0OPSALERTS",
    pagerDuty: createPagerDuty({
      routingKey: async () => ROUTING_KEY,
      url: `${pagerDuty.url}/v2/enqueue`,
      minTimeoutMs: 20,
    }),
    sms: createSnsPublisher({ sns, topicArn: `arn:aws:sns:us-east-1:${ACCOUNT_ID}:ops-oncall-sms`, kind: "sms" }),
    email: createSnsPublisher({ sns, topicArn: `arn:aws:sns:us-east-1:${ACCOUNT_ID}:ops-email`, kind: "email" }),
  };
}

function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "ops-autopilot-alarm",
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:${ACCOUNT_ID}:function:ops-autopilot-alarm`,
    memoryLimitInMB: "1024",
    awsRequestId: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    logGroupName: "/aws/lambda/ops-autopilot-alarm",
    logStreamName: "2026/11/21/[$LATEST]abcdef",
    getRemainingTimeInMillis: () => 300_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** IMS 2.0's ladder needs an alarm of each severity: the catalogue's backup alarm (error) plus two. */
function ladderAlarms(fleet: Fleet): AlarmDefinition[] {
  const alarms = fleetAlarms(fleet.systems);
  const backup = alarms.find((a) => a.id === "ims-2-backup-age-main") as AlarmDefinition;
  return [
    ...alarms,
    { ...backup, id: "ims-2-api-5xx-warning", description: "API 5xx above normal", severity: "warning" },
    { ...backup, id: "ims-2-api-down-critical", description: "API down", severity: "critical" },
  ];
}

function setup(options: { fleet?: Fleet; env?: Record<string, string> } = {}) {
  const fleet = options.fleet ?? builtinFleet();
  const clock = { now: new Date("2026-11-21T09:05:00Z") };
  const { logger, lines } = memoryLogger();
  const state = conditionalS3();
  const runtime = createRuntime(
    {
      fleet,
      logger,
      now: () => clock.now,
      clientsFor: () => testClients(),
      metrics: new Metrics({ namespace: "OpsAutopilotTest", serviceName: "test" }),
    },
    options.env ?? {},
  );
  const handler = createAlarmHandler({
    runtime,
    store: { s3: state.s3, bucket: "ops-autopilot-state", prefix: "alarm-state" },
    channels: channels(logger),
    alarms: ladderAlarms(fleet),
  });
  const invoke = (event: unknown) => handler(event, lambdaContext());
  return { invoke, clock, lines, state };
}

const posts = () => slack.requests.filter((r) => r.path === "/api/chat.postMessage");
const smsSent = () =>
  snsMock.commandCalls(PublishCommand).filter((c) => c.args[0].input.TopicArn?.endsWith("ops-oncall-sms"));
const emailSent = () =>
  snsMock.commandCalls(PublishCommand).filter((c) => c.args[0].input.TopicArn?.endsWith("ops-email"));

describe("IMS 2.0's ladder: WARNING → Slack; ERROR → Slack + SMS; CRITICAL → Slack + SMS + page", () => {
  it.each([
    ["warning", "ims-2-api-5xx-warning", { sms: 0, page: 0 }],
    ["error", "ims-2-backup-age-main", { sms: 1, page: 0 }],
    ["critical", "ims-2-api-down-critical", { sms: 1, page: 1 }],
  ] as const)("%s reaches exactly its channels", async (_severity, id, expected) => {
    // Prepare
    const { invoke } = setup();
    // Act
    await invoke(eventFor(fixture("alarm"), { name: id }));
    // Assess
    expect(posts()).toHaveLength(1);
    expect(posts()[0]?.body.channel).toBe("C0OPSALERTS");
    expect(posts()[0]?.authorization).toBe(`Bearer ${SLACK_TOKEN}`);
    expect(smsSent()).toHaveLength(expected.sms);
    expect(pagerDuty.requests).toHaveLength(expected.page);
    expect(emailSent()).toHaveLength(0);
    if (expected.page) {
      expect(pagerDuty.requests[0]?.body).toMatchObject({
        routing_key: ROUTING_KEY,
        event_action: "trigger",
        dedup_key: `ops-autopilot-production-${id}`,
        payload: { source: "ims-2", severity: "critical" },
      });
    }
  });

  it("the Slack message says the system, what happened and the value against its threshold", async () => {
    const { invoke } = setup();
    await invoke(fixture("alarm"));
    const text = JSON.stringify(posts()[0]?.body.blocks);
    expect(text).toContain("IMS 2.0");
    expect(text).toContain("newest verified backup of ims-2/main older than 1560 min");
    expect(text).toContain("97200 seconds > 93600 seconds");
    expect(text).toContain("ops run backup --system ims-2 --dry-run");
    expect(text).not.toContain(SLACK_TOKEN);
  });
});

describe("Alertmanager's habits", () => {
  it("a repeated ALARM for the same alarm is not re-sent", async () => {
    const { invoke, clock } = setup();
    await invoke(fixture("alarm"));
    clock.now = new Date("2026-11-21T09:35:00Z");
    const again = await invoke(
      eventFor(fixture("alarm"), { id: "11111111-2222-3333-4444-555555555555", at: "2026-11-21T09:34:40.000+0000" }),
    );
    expect(again.step).toBe("skip");
    expect(posts()).toHaveLength(1);
    expect(smsSent()).toHaveLength(1);
  });

  it("the same event delivered twice at once posts once", async () => {
    const { invoke } = setup();
    const results = await Promise.all([invoke(fixture("alarm")), invoke(fixture("alarm"))]);
    expect(results.map((r) => r.step).sort()).toEqual(["open", "skip"]);
    expect(posts()).toHaveLength(1);
    expect(smsSent()).toHaveLength(1);
  });

  it("OK is posted in the alarm's thread, marks the first message resolved and resolves the page", async () => {
    const { invoke, clock } = setup();
    await invoke(eventFor(fixture("alarm"), { name: "ims-2-api-down-critical" }));
    clock.now = new Date("2026-11-21T15:05:00Z");
    await invoke(eventFor(fixture("ok"), { name: "ims-2-api-down-critical" }));
    const [first, reply] = posts();
    expect(reply?.body.thread_ts).toBe("1700000000.000001");
    expect(first?.body.thread_ts).toBeUndefined();
    const update = slack.requests.find((r) => r.path === "/api/chat.update");
    expect(update?.body).toMatchObject({ channel: "C0OPSALERTS", ts: "1700000000.000001" });
    expect(JSON.stringify(update?.body.blocks)).toContain("RESOLVED");
    expect(pagerDuty.requests.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([
      ["trigger", "ops-autopilot-production-ims-2-api-down-critical"],
      ["resolve", "ops-autopilot-production-ims-2-api-down-critical"],
    ]);
  });

  it("OK without an open alarm is recorded, not posted", async () => {
    const { invoke } = setup();
    const result = await invoke(fixture("ok"));
    expect(result.step).toBe("record");
    expect(posts()).toHaveLength(0);
  });

  it("no data after ALARM is said in the thread, without an SMS, and the alarm stays open", async () => {
    const { invoke, clock } = setup();
    await invoke(fixture("alarm"));
    clock.now = new Date("2026-11-21T11:05:00Z");
    await invoke(fixture("insufficient-data"));
    expect(posts()).toHaveLength(2);
    expect(posts()[1]?.body.thread_ts).toBe(posts()[0] && "1700000000.000001");
    expect(smsSent()).toHaveLength(1);
    clock.now = new Date("2026-11-21T15:05:00Z");
    await invoke(fixture("ok"));
    expect(posts()[2]?.body.thread_ts).toBe("1700000000.000001");
  });

  it("a reminder repeats every 4 h while the alarm stays in ALARM, in its thread (fixed clock)", async () => {
    const { invoke, clock } = setup();
    await invoke(fixture("alarm"));
    const tick = { kind: "alarm-reminders" };
    const at = async (iso: string) => {
      clock.now = new Date(iso);
      return (await invoke(tick)).reminded;
    };
    expect(await at("2026-11-21T12:05:00Z")).toEqual([]);
    expect(await at("2026-11-21T13:04:59Z")).toEqual([]);
    expect(await at("2026-11-21T13:05:00Z")).toEqual(["ops-autopilot-production-ims-2-backup-age-main"]);
    expect(await at("2026-11-21T13:20:00Z")).toEqual([]);
    expect(await at("2026-11-21T17:05:00Z")).toHaveLength(1);
    const replies = posts().slice(1);
    expect(replies).toHaveLength(2);
    for (const r of replies) expect(r.body).toMatchObject({ thread_ts: "1700000000.000001", reply_broadcast: "true" });
    expect(JSON.stringify(replies[1]?.body.blocks)).toContain("reminder 2");
    // Resolved: no more reminders.
    clock.now = new Date("2026-11-21T17:10:00Z");
    await invoke(eventFor(fixture("ok"), { at: "2026-11-21T17:09:00.000+0000" }));
    expect(await at("2026-11-21T23:10:00Z")).toEqual([]);
  });

  it("a Slack outage during an alarm: the retry posts once Slack is back, SMS is not sent twice", async () => {
    const { invoke, clock } = setup();
    slack.breakDown();
    await expect(invoke(fixture("alarm"))).rejects.toThrow(/slack failed/);
    expect(smsSent()).toHaveLength(1);
    slack.recover();
    // Lambda retries the failed event a minute or more later, with the same event.
    clock.now = new Date("2026-11-21T09:06:30Z");
    const retried = await invoke(fixture("alarm"));
    expect(retried.step).toBe("redo");
    expect(posts()).toHaveLength(1);
    expect(smsSent()).toHaveLength(1);
  });
});

describe("Slack credentials from Secrets Manager", () => {
  const secretsMock = mockClient(SecretsManagerClient);
  const settingsFor = (secret: string) => {
    secretsMock.reset();
    secretsMock.on(GetSecretValueCommand, { SecretId: "ops/slack" }).resolves({ SecretString: secret });
    const { logger } = memoryLogger();
    return channelsFromSettings(
      parseNotifySettings({
        OPS_SLACK_SECRET_ID: "ops/slack",
        OPS_SLACK_CHANNEL: "C0OPSALERTS",
        OPS_SLACK_API_URL: `${slack.url}/api/`,
        AWS_REGION: "us-east-1",
      }),
      { logger, secrets: new SecretsManagerClient({ region: "us-east-1" }) },
    );
  };

  it("a bot token secret posts through the Web API with the token as bearer", async () => {
    const channels = settingsFor(JSON.stringify({ token: SLACK_TOKEN }));
    const posted = await channels.slack?.post({ channel: "C0OPSALERTS", message: { text: "hi", blocks: [] } });
    expect(posted?.ts).toMatch(/^1700000000\./);
    expect(posts()[0]?.authorization).toBe(`Bearer ${SLACK_TOKEN}`);
  });

  it("an incoming webhook secret posts the blocks to the webhook, without a thread", async () => {
    const channels = settingsFor(JSON.stringify({ webhookUrl: `${slack.url}/services/T000/B000/XXXX` }));
    const route = { severity: "warning" as const, channels: ["slack" as const], reminderMs: 1 };
    const result = await deliver(channels, route, {
      subject: "s",
      body: "b",
      slack: { text: "hello", blocks: [{ type: "section", text: { type: "mrkdwn", text: "hello" } }] },
      thread: { channel: "", ts: "" },
    });
    expect(result.failures).toEqual([]);
    expect(slack.requests.map((r) => r.path)).toEqual(["/services/T000/B000/XXXX"]);
    expect(slack.requests[0]?.body).toMatchObject({ text: "hello" });
    expect(slack.requests[0]?.body.thread_ts).toBeUndefined();
  });

  it("a secret with neither is a clear error, posted nowhere", async () => {
    const channels = settingsFor(JSON.stringify({ password: "x" }));
    await expect(channels.slack?.post({ channel: "C1", message: { text: "hi", blocks: [] } })).rejects.toThrow(
      /neither "token" nor "webhookUrl"/,
    );
    expect(slack.requests).toHaveLength(0);
  });
});

describe("PagerDuty Events API v2", () => {
  it("a 5xx from PagerDuty is retried and the page goes through once", async () => {
    const { invoke } = setup();
    const before = pagerDuty.failures;
    pagerDuty.failNext(1);
    await invoke(eventFor(fixture("alarm"), { name: "ims-2-api-down-critical" }));
    expect(pagerDuty.failures - before).toBe(1);
    expect(pagerDuty.requests).toHaveLength(1);
    expect(posts()).toHaveLength(1);
  });
});

describe("metric math alarm", () => {
  it("EZ's error rate reaches Slack, email and PagerDuty with the value against the threshold", async () => {
    const systems = builtinSystems.map((s) =>
      s.id === "ez-tracking"
        ? {
            ...s,
            loadBalancers: [
              {
                id: "backend",
                loadBalancer: "app/ez-tracking/50dc6c495c0c9188",
                targetGroup: "targetgroup/ez-backend/73e2d6bc24d8a067",
              },
            ],
          }
        : s,
    );
    const { invoke } = setup({ fleet: parseFleet({ systems }, { source: "test" }) });
    await invoke(fixture("math-alarm"));
    expect(JSON.stringify(posts()[0]?.body.blocks)).toContain("7.42 % > 5 %");
    expect(emailSent()).toHaveLength(1);
    expect(emailSent()[0]?.args[0].input.Subject).toMatch(/^\[CRITICAL\] ALARM EZ Tracking Board: Error rate > 5 %/);
    expect(pagerDuty.requests[0]?.body).toMatchObject({ event_action: "trigger", payload: { severity: "critical" } });
  });
});

describe("remediation", () => {
  const partpalWithSlack = () =>
    parseFleet(
      {
        systems: builtinSystems.map((s) =>
          s.id === "partpal-ims" ? { ...s, notifications: [{ severity: "warning", channels: ["slack"] }] } : s,
        ),
      },
      { source: "test", runbooks: runbooks.map((r) => r.name) },
    );

  it("a remediation stopped by its runbook's guard is reported in the alarm's thread", async () => {
    // Flash Sale's latency alarm runs rollback; with no known-good revision recorded on the service, the
    // rollback's own guard stops it and escalates.
    const systems = builtinSystems.map((s) =>
      s.id === "flash-sale"
        ? {
            ...s,
            notifications: [{ severity: "warning", channels: ["slack"] }],
            loadBalancers: [
              {
                id: "flash-sale-service",
                loadBalancer: "app/flash-sale/50dc6c495c0c9188",
                targetGroup: "targetgroup/flash-sale/73e2d6bc24d8a067",
              },
            ],
          }
        : s,
    );
    const fleet = parseFleet({ systems }, { source: "test", runbooks: runbooks.map((r) => r.name) });
    const latency = fleetAlarms(fleet.systems).find((a) => a.id.startsWith("flash-sale-api-latency"));
    expect(latency?.remediation).toEqual({ runbook: "rollback", input: {} });
    const ecs = mockClient(ECSClient);
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        {
          serviceName: "flash-sale-service",
          serviceArn: `arn:aws:ecs:ap-south-1:${ACCOUNT_ID}:service/flash-sale-cluster/flash-sale-service`,
          status: "ACTIVE",
          desiredCount: 10,
          runningCount: 10,
          taskDefinition: `arn:aws:ecs:ap-south-1:${ACCOUNT_ID}:task-definition/flash-sale-app:7`,
          deploymentController: { type: "ECS" },
          deployments: [
            {
              id: "ecs-svc/1",
              status: "PRIMARY",
              rolloutState: "COMPLETED",
              taskDefinition: `arn:aws:ecs:ap-south-1:${ACCOUNT_ID}:task-definition/flash-sale-app:7`,
              createdAt: new Date("2026-11-21T08:55:00Z"),
              desiredCount: 10,
              runningCount: 10,
            },
          ],
          tags: [],
        },
      ],
      failures: [],
    });
    try {
      const { invoke } = setup({ fleet });
      const result = await invoke(eventFor(fixture("alarm"), { name: latency?.id ?? "" }));
      expect(result.remediation).toMatchObject({ runbook: "rollback", status: "skipped" });
      expect(result.remediation?.summary).toMatch(/no-known-good|no last known-good/);
      const [alarm, report] = posts();
      expect(JSON.stringify(alarm?.body.blocks)).toContain("Runs `rollback`");
      expect(report?.body.thread_ts).toBe("1700000000.000001");
      expect(JSON.stringify(report?.body.blocks)).toMatch(/no last known-good/);
      expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(0);
    } finally {
      ecs.restore();
    }
  });

  it("a duplicate of the alarm's event does not run the remediation again", async () => {
    const { invoke } = setup({ fleet: partpalWithSlack() });
    await invoke(fixture("partpal-cpu"));
    const again = await invoke(fixture("partpal-cpu"));
    expect(again).toMatchObject({ step: "skip" });
    expect(again.remediation).toBeUndefined();
    expect(posts()).toHaveLength(2);
  });

  it("OPS_DRY_RUN makes the remediation a dry run", async () => {
    const { invoke } = setup({ fleet: partpalWithSlack(), env: { OPS_DRY_RUN: "true" } });
    await invoke(fixture("partpal-cpu"));
    expect(JSON.stringify(posts()[1]?.body.blocks)).toContain("scale-up (dry run)");
  });
});

describe("bad input", () => {
  it("a malformed event is rejected, naming the field, and nothing is posted", async () => {
    const { invoke } = setup();
    const event = fixture("alarm");
    event.detail.state.value = "RED";
    await expect(invoke(event)).rejects.toThrow(/invalid CloudWatch alarm state change event/);
    expect(posts()).toHaveLength(0);
  });

  it("an alarm that is not one of the fleet's is rejected and nothing is posted", async () => {
    const { invoke, state } = setup();
    await expect(invoke(eventFor(fixture("alarm"), { name: "nobody-knows-this" }))).rejects.toThrow(
      /is not an alarm of this fleet/,
    );
    expect(posts()).toHaveLength(0);
    expect(state.objects.size).toBe(0);
  });
});

describe("runbook reports through ctx.notify", () => {
  const failing: Runbook<z.ZodObject> = {
    name: "probe-fail",
    description: "fails on purpose",
    destructive: false,
    input: z.strictObject({}),
    permissions: () => [],
    async run(ctx) {
      const report = new ReportBuilder(ctx, "probe-fail");
      report.add({
        resource: "main",
        action: "dump",
        status: "failed",
        reason: "postgres://ims:hunter2@db:5432/ims refused",
      });
      return report.finish({ summary: "dump failed: password=hunter2", status: "failed" });
    },
  };

  function run() {
    const { logger, lines } = memoryLogger();
    const fleet = builtinFleet();
    return {
      lines,
      go: () =>
        executeRun(
          {
            fleet,
            registry: [failing],
            logger,
            now: () => new Date("2026-11-21T03:00:00Z"),
            notify: createRoutingNotifier({ systems: fleet.systems, channels: channels(logger) }),
            clientsFor: () => testClients(),
          },
          { runbook: "probe-fail", system: "ims-2", input: {}, dryRun: false },
        ),
    };
  }

  it("a failed report is routed as an error (Slack + SMS for IMS 2.0), secrets removed", async () => {
    const report = await run().go();
    expect(report.status).toBe("failed");
    expect(posts()).toHaveLength(1);
    expect(smsSent()).toHaveLength(1);
    const text = JSON.stringify(posts()[0]?.body);
    expect(text).not.toContain("hunter2");
    expect(text).toContain("[redacted]");
    expect(JSON.stringify(smsSent()[0]?.args[0].input)).not.toContain("hunter2");
  });

  it("a Slack outage is retried and the post goes through; the outcome is the same", async () => {
    const before = slack.failures;
    slack.failNext(2);
    const report = await run().go();
    expect(report.status).toBe("failed");
    expect(slack.failures - before).toBe(2);
    expect(posts()).toHaveLength(1);
  });

  it("Slack down for good does not change the runbook's outcome; the failure is logged, SMS still goes", async () => {
    slack.breakDown();
    const { go, lines } = run();
    const report = await go();
    expect(report.status).toBe("failed");
    expect(report.actions.map((a) => a.status)).toEqual(["failed"]);
    expect(smsSent()).toHaveLength(1);
    expect(lines().some((l) => l.message === "notification failed" && String(l.error).includes("slack"))).toBe(true);
  });
});
