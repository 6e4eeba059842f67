import { ECSClient, RunTaskCommand, type RunTaskCommandInput, type RunTaskCommandOutput } from "@aws-sdk/client-ecs";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { Claim } from "../../lib/s3-claim.js";
import { decidePlacement, HANDOFF_LEASE_MS, type PlacementInput } from "../../runbooks/backup/handoff.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { runExclusive } from "../../runbooks/exclusive.js";
import { ReportBuilder } from "../../runbooks/report.js";
import { executeRun } from "../../runbooks/runner.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { type System, systemSchema } from "../../systems/schema.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { recordingNotifier, testClients, testContext } from "../helpers/context.js";

const s3Mock = mockClient(S3Client);
const ecsMock = mockClient(ECSClient);
const secretsMock = mockClient(SecretsManagerClient);

const now = new Date("2026-11-21T03:00:05Z");
/** A Lambda deadline 14 minutes away. */
const deadline = new Date(now.getTime() + 14 * 60_000);
const claimKey = "pg_dump/demo/inventory/in-progress.json";
const network = { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0def5678"] };
const taskEnv = {
  OPS_BACKUP_TASK_CLUSTER: "ops-autopilot-backup",
  OPS_BACKUP_TASK_DEFINITION: "ops-autopilot-backup",
  OPS_BACKUP_TASK_CONTAINER: "ops",
};
const taskArn = `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:task/ops-autopilot-backup/0b69d5c0d655f3bc`;

/** The demo system with a task network and its database on Fargate (or not). */
function demoWith(backup: Record<string, unknown>, database: Record<string, unknown> = {}): System {
  const demo = findSystem(builtinFleet(), "demo");
  return systemSchema.parse({
    ...demo,
    account: { ...demo.account, accountId: ACCOUNT_ID },
    backup: { ...demo.backup, ...backup },
    databases: demo.databases.map((d) => ({ ...d, ...database })),
  });
}

/** RunTask's answer as the ECS API reference shows it: the task placed, PROVISIONING. */
const placed: RunTaskCommandOutput = {
  $metadata: { httpStatusCode: 200 },
  tasks: [
    {
      taskArn,
      clusterArn: `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:cluster/ops-autopilot-backup`,
      taskDefinitionArn: `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:task-definition/ops-autopilot-backup:3`,
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      launchType: "FARGATE",
      platformVersion: "1.4.0",
      cpu: "2048",
      memory: "4096",
      group: "family:ops-autopilot-backup",
      startedBy: "ops-autopilot-backup",
      createdAt: new Date("2026-11-21T03:00:06Z"),
      containers: [{ name: "ops", lastStatus: "PENDING", taskArn }],
    },
  ],
  failures: [],
};

const claimPuts = () =>
  s3Mock
    .commandCalls(PutObjectCommand)
    .map((c) => c.args[0].input as PutObjectCommandInput)
    .filter((p) => p.Key === claimKey);
const runTasks = () => ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input as RunTaskCommandInput);

beforeEach(() => {
  s3Mock.reset();
  ecsMock.reset();
  secretsMock.reset();
  s3Mock.on(ListObjectsV2Command).resolves({ Contents: [], KeyCount: 0 });
  s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag-1"' });
  s3Mock.on(DeleteObjectCommand).resolves({});
  s3Mock
    .on(GetObjectCommand)
    .rejects(Object.assign(new Error("The specified key does not exist."), { name: "NoSuchKey" }));
});

describe("where a backup runs (decidePlacement)", () => {
  const base: PlacementInput = { runOn: "auto", budgetMs: 840_000 };
  const cases: [string, PlacementInput, string, RegExp?][] = [
    ["a plain process (no deadline) runs it, even on Fargate", { runOn: "fargate" }, "here"],
    ["a plain process runs it whatever the estimate", { runOn: "auto", estimateMs: 10 * 3_600_000 }, "here"],
    ["runOn fargate goes to the task before any estimate", { ...base, runOn: "fargate" }, "task", /runOn: fargate/],
    [
      "runOn fargate without a task is skipped, saying why",
      { ...base, runOn: "fargate", noTask: "no backup task is deployed" },
      "skip",
      /^the catalogue runs this backup on Fargate, but no backup task is deployed$/,
    ],
    ["auto without an estimate estimates first", base, "estimate"],
    ["an estimate within the budget runs here", { ...base, estimateMs: 840_000 }, "here"],
    [
      "an estimate over the budget goes to the task, with the numbers",
      { ...base, estimateMs: 1_800_000, databaseBytes: 36 * 2 ** 30, rateBytesPerMs: 20_000 },
      "task",
      /^estimated dump time 1800 s \(36\.00 GiB at 19\.1 MiB\/s\) exceeds the 840 s budget$/,
    ],
    [
      "over the budget without a task: skipped, the numbers and why",
      { ...base, estimateMs: 1_800_000, noTask: "the catalogue gives no task network (backup.fargate)" },
      "skip",
      /exceeds the 840 s budget and the catalogue gives no task network \(backup\.fargate\); run it as a plain process/,
    ],
  ];
  it.each(cases)("%s", (_name, input, where, reason) => {
    const placement = decidePlacement(input);
    expect(placement.where).toBe(where);
    if (reason) expect("reason" in placement ? placement.reason : "").toMatch(reason);
  });
});

describe("backup hands a database to the Fargate task", () => {
  const system = demoWith({ fargate: network }, { backupRunOn: "fargate" });

  it("sends RunTask with the task definition, the command, the claim, the network and the tags", async () => {
    ecsMock.on(RunTaskCommand).resolves(placed);
    const ctx = testContext({ system, now, deadline, env: taskEnv });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    const [request, ...more] = runTasks();
    expect(more).toHaveLength(0);
    const holder = JSON.parse(String(claimPuts()[0]?.Body)).holder as string;
    expect(request).toEqual({
      cluster: "ops-autopilot-backup",
      taskDefinition: "ops-autopilot-backup",
      launchType: "FARGATE",
      count: 1,
      clientToken: holder,
      startedBy: "ops-autopilot-backup",
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ["subnet-0abc1234"],
          securityGroups: ["sg-0def5678"],
          assignPublicIp: "DISABLED",
        },
      },
      overrides: {
        containerOverrides: [
          {
            name: "ops",
            command: ["run", "backup", "--system", "demo", "database=inventory"],
            environment: [
              { name: "OPS_CLAIM_HOLDER", value: holder },
              { name: "OPS_CLAIM_KEY", value: claimKey },
            ],
          },
        ],
      },
      tags: [
        { key: "ops-autopilot:runbook", value: "backup" },
        { key: "ops-autopilot:system", value: "demo" },
        { key: "ops-autopilot:database", value: "inventory" },
      ],
    });
    expect(report.status).toBe("succeeded");
    expect(report.actions).toEqual([
      expect.objectContaining({
        resource: "demo/inventory",
        action: "hand-off",
        status: "done",
        after: expect.objectContaining({ taskArn }),
      }),
    ]);
    expect(report.summary).toBe(
      `demo/inventory: handed off to Fargate task ${taskArn}: the catalogue runs this backup on Fargate (runOn: fargate)`,
    );
    // The function never reached the database: no credentials read.
    expect(secretsMock.calls()).toHaveLength(0);
  });

  it("keeps the claim for the task: extended for the task to start, never released", async () => {
    ecsMock.on(RunTaskCommand).resolves(placed);
    const ctx = testContext({ system, now, deadline, env: taskEnv });
    await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    const [created, extended, ...more] = claimPuts();
    expect(more).toHaveLength(0);
    expect(created?.IfNoneMatch).toBe("*");
    expect(extended?.IfMatch).toBe('"etag-1"');
    const lease = JSON.parse(String(extended?.Body)) as Claim;
    expect(lease.holder).toBe(JSON.parse(String(created?.Body)).holder);
    expect(new Date(lease.expiresAt).getTime()).toBe(now.getTime() + HANDOFF_LEASE_MS);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });

  it("passes force and compression on to the task's command", async () => {
    ecsMock.on(RunTaskCommand).resolves(placed);
    const ctx = testContext({ system, now, deadline, env: taskEnv });
    await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60, compression: 6 });
    expect(runTasks()[0]?.overrides?.containerOverrides?.[0]?.command).toEqual([
      "run",
      "backup",
      "--system",
      "demo",
      "database=inventory",
      "force=true",
      "compression=6",
    ]);
  });

  it("a RunTask answered with failures[] is failed, and the claim is released for the next run", async () => {
    ecsMock.on(RunTaskCommand).resolves({
      $metadata: { httpStatusCode: 200 },
      tasks: [],
      failures: [
        {
          arn: `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:cluster/ops-autopilot-backup`,
          reason: "MISSING",
          detail: "cluster not found",
        },
      ],
    });
    const ctx = testContext({ system, now, deadline, env: taskEnv });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(report.status).toBe("failed");
    expect(report.actions[0]).toMatchObject({ action: "hand-off", status: "failed" });
    expect(report.actions[0]?.reason).toBe(
      `hand-off to Fargate failed: RunTask started no task: MISSING (cluster not found) on arn:aws:ecs:us-east-1:${ACCOUNT_ID}:cluster/ops-autopilot-backup`,
    );
    expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.Key)).toEqual([claimKey]);
  });

  it("a RunTask that throws is failed, and the failed report reaches the notifier", async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejects(
        Object.assign(new Error("User is not authorized to perform: iam:PassRole"), { name: "AccessDeniedException" }),
      );
    const notifier = recordingNotifier();
    const report = await executeRun(
      {
        fleet: { ...builtinFleet(), systems: [system] },
        registry: [backupRunbook],
        logger: testContext().logger,
        now: () => now,
        notify: notifier,
        clientsFor: () => testClients(),
        env: taskEnv,
        deadline,
      },
      { runbook: "backup", system: "demo", input: {}, dryRun: false },
    );
    expect(report.status).toBe("failed");
    expect(report.actions[0]?.reason).toMatch(
      /^hand-off to Fargate failed: User is not authorized to perform: iam:PassRole$/,
    );
    expect(notifier.reports.map((r) => [r.runbook, r.status])).toEqual([["backup", "failed"]]);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(1);
  });

  it("a dry run reports the task it would start and sends no RunTask", async () => {
    const ctx = testContext({ system, now, deadline, env: taskEnv, dryRun: true });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(runTasks()).toHaveLength(0);
    expect(claimPuts()).toHaveLength(0);
    expect(report.actions).toEqual([
      expect.objectContaining({
        action: "hand-off",
        status: "would-do",
        after: expect.objectContaining({ command: ["run", "backup", "--system", "demo", "database=inventory"] }),
      }),
    ]);
  });

  it("a duplicate event while the task holds the claim starts no second task", async () => {
    s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error("precondition"), { name: "PreconditionFailed" }));
    const held: Claim = {
      holder: "task-holder",
      startedAt: "2026-11-21T02:50:00.000Z",
      expiresAt: "2026-11-21T03:10:00.000Z",
    };
    s3Mock
      .on(GetObjectCommand)
      .resolves({ ETag: '"etag-9"', Body: { transformToString: async () => JSON.stringify(held) } as never });
    const ctx = testContext({ system, now, deadline, env: taskEnv });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(report.actions.map((a) => a.status)).toEqual(["skipped"]);
    expect(runTasks()).toHaveLength(0);
  });

  it("without the deployed task's settings it is skipped, saying so, and nothing starts", async () => {
    const ctx = testContext({ system, now, deadline, env: {} });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(report.actions[0]).toMatchObject({ action: "backup", status: "skipped" });
    expect(report.actions[0]?.reason).toMatch(
      /no backup task is deployed \(OPS_BACKUP_TASK_CLUSTER \/ OPS_BACKUP_TASK_DEFINITION unset\)/,
    );
    expect(runTasks()).toHaveLength(0);
  });

  it("declares RunTask on exactly the task definition and PassRole on exactly its two roles", () => {
    const permissions = backupRunbook.permissions(system);
    const of = (action: string) => permissions.filter((p) => p.actions.includes(action));
    expect(of("ecs:RunTask")).toEqual([
      {
        actions: ["ecs:RunTask"],
        resources: [`arn:aws:ecs:us-east-1:${ACCOUNT_ID}:task-definition/ops-autopilot-backup:*`],
        conditions: [
          {
            test: "ArnEquals",
            variable: "ecs:cluster",
            values: [`arn:aws:ecs:us-east-1:${ACCOUNT_ID}:cluster/ops-autopilot-backup`],
          },
        ],
      },
    ]);
    expect(of("iam:PassRole").flatMap((p) => p.resources)).toEqual([
      `arn:aws:iam::${ACCOUNT_ID}:role/ops-autopilot-backup-task-us-east-1`,
      `arn:aws:iam::${ACCOUNT_ID}:role/ops-autopilot-backup-exec-us-east-1`,
    ]);
    expect(of("iam:PassRole")[0]?.conditions).toEqual([
      { test: "StringEquals", variable: "iam:PassedToService", values: ["ecs-tasks.amazonaws.com"] },
    ]);
    // A system without a task network never hands off, and is granted nothing for it.
    expect(
      backupRunbook
        .permissions(demoWith({}))
        .some((p) => p.actions.some((a) => a.startsWith("ecs:") || a.startsWith("iam:"))),
    ).toBe(false);
  });
});

describe("the task takes over the claim it was handed", () => {
  const options = {
    bucket: "ops-autopilot-demo",
    key: claimKey,
    resource: "demo/inventory",
    action: "backup",
    what: "this backup",
  };
  const handed: Claim = {
    holder: "handed-holder",
    startedAt: "2026-11-21T02:59:00.000Z",
    expiresAt: "2026-11-21T03:19:00.000Z",
  };

  it("with OPS_CLAIM_HOLDER and OPS_CLAIM_KEY it runs under the live claim and releases it after", async () => {
    s3Mock
      .on(PutObjectCommand, { IfNoneMatch: "*" })
      .rejects(Object.assign(new Error("precondition"), { name: "PreconditionFailed" }));
    s3Mock
      .on(GetObjectCommand)
      .resolves({ ETag: '"etag-h"', Body: { transformToString: async () => JSON.stringify(handed) } as never });
    const ctx = testContext({ now, env: { OPS_CLAIM_HOLDER: "handed-holder", OPS_CLAIM_KEY: claimKey } });
    let ran = false;
    await runExclusive(ctx, new ReportBuilder(ctx, "backup"), options, async (claim) => {
      ran = claim.holder === "handed-holder";
    });
    expect(ran).toBe(true);
    expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.IfMatch)).toEqual(['"etag-h"']);
  });

  it("a holder handed for another claim's key does not let it in", async () => {
    s3Mock
      .on(PutObjectCommand, { IfNoneMatch: "*" })
      .rejects(Object.assign(new Error("precondition"), { name: "PreconditionFailed" }));
    s3Mock
      .on(GetObjectCommand)
      .resolves({ ETag: '"etag-h"', Body: { transformToString: async () => JSON.stringify(handed) } as never });
    const ctx = testContext({
      now,
      env: { OPS_CLAIM_HOLDER: "handed-holder", OPS_CLAIM_KEY: "pg_dump/demo/other/in-progress.json" },
    });
    const report = new ReportBuilder(ctx, "backup");
    let ran = false;
    await runExclusive(ctx, report, options, async () => {
      ran = true;
    });
    expect(ran).toBe(false);
    expect(report.actions.map((a) => a.status)).toEqual(["skipped"]);
  });
});

describe("the catalogue's task network", () => {
  it('runOn "fargate" without backup.fargate names the field and what to give', () => {
    const result = systemSchema.safeParse({
      ...findSystem(builtinFleet(), "demo"),
      backup: { ...findSystem(builtinFleet(), "demo").backup, runOn: "fargate" },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      [
        "backup.runOn",
        'backup.runOn is "fargate" but backup.fargate is missing: give the task\'s network, e.g. {subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0abc1234"]}, or use "auto"',
      ],
    ]);
  });

  it("a database's backupRunOn fargate needs it too", () => {
    const demo = findSystem(builtinFleet(), "demo");
    const result = systemSchema.safeParse({
      ...demo,
      databases: demo.databases.map((d) => ({ ...d, backupRunOn: "fargate" })),
    });
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["databases.0.backupRunOn"]);
  });

  it("a malformed subnet or security group id is refused with an example", () => {
    const demo = findSystem(builtinFleet(), "demo");
    const result = systemSchema.safeParse({
      ...demo,
      backup: { ...demo.backup, fargate: { subnetIds: ["subnet-xyz"], securityGroupIds: ["default"] } },
    });
    expect(result.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["backup.fargate.subnetIds.0", "must be a subnet id such as subnet-0abc1234"],
      ["backup.fargate.securityGroupIds.0", "must be a security group id such as sg-0abc1234"],
    ]);
  });
});
