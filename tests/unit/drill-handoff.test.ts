import { ECSClient, RunTaskCommand, type RunTaskCommandInput, type RunTaskCommandOutput } from "@aws-sdk/client-ecs";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { filesDigest } from "../../runbooks/backup/directory.js";
import { decidePlacement } from "../../runbooks/backup/handoff.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { drillTaskInput } from "../../runbooks/restore-drill/handoff.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { type DrillPlacementInput, decideDrillPlacement } from "../../runbooks/restore-drill/placement.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { type System, systemSchema } from "../../systems/schema.js";
import { testClients, testContext } from "../helpers/context.js";

const s3Mock = mockClient(S3Client);
const ecsMock = mockClient(ECSClient);

const now = new Date("2026-11-21T04:00:05Z");
const deadline = new Date(now.getTime() + 14 * 60_000);
const claimKey = "drills/demo/claims/inventory.json";
const network = { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0def5678"] };
const taskEnv = {
  OPS_BACKUP_TASK_CLUSTER: "ops-autopilot-backup",
  OPS_BACKUP_TASK_DEFINITION: "ops-autopilot-backup",
  OPS_BACKUP_TASK_CONTAINER: "ops",
};
const taskArn = "arn:aws:ecs:us-east-1:123456789012:task/ops-autopilot-backup/5d1c0e7b2a9f4e6d";
const dumpKey = "pg_dump/demo/inventory/2026/11/21/20261121T031500Z.dump";

function demoWith(options: { backup?: Record<string, unknown>; drill?: Record<string, unknown> } = {}): System {
  const demo = findSystem(builtinFleet(), "demo");
  return systemSchema.parse({
    ...demo,
    account: { ...demo.account, accountId: "123456789012" },
    backup: { ...demo.backup, fargate: network, ...options.backup },
    dr: { ...demo.dr, drill: { ...demo.dr.drill, ...options.drill } },
  });
}

function manifestOf(bytes: number): Manifest {
  return {
    version: 1,
    system: "demo",
    database: "inventory",
    databaseName: "partpal_demo",
    bucket: "ops-autopilot-demo",
    key: dumpKey,
    bytes,
    sha256: "a".repeat(64),
    format: "custom",
    compression: 1,
    serverVersion: "15.18",
    pgDumpVersion: "15.18",
    databaseBytes: bytes * 4,
    startedAt: "2026-11-21T03:15:00.000Z",
    finishedAt: "2026-11-21T03:25:00.000Z",
    durationMs: 600_000,
    tables: [{ schema: "public", name: "parts", rowsEstimate: 1000, bytes: 4096 }],
    encryption: "AES256",
  };
}

/** RunTask's answer as the ECS API reference shows it: the task placed, PROVISIONING. */
const placed: RunTaskCommandOutput = {
  $metadata: { httpStatusCode: 200 },
  tasks: [
    {
      taskArn,
      clusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/ops-autopilot-backup",
      taskDefinitionArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/ops-autopilot-backup:3",
      lastStatus: "PROVISIONING",
      desiredStatus: "RUNNING",
      launchType: "FARGATE",
      startedBy: "ops-autopilot-restore-drill",
      containers: [{ name: "ops", lastStatus: "PENDING", taskArn }],
    },
  ],
  failures: [],
};

/** A bucket holding one verified backup of `bytes` bytes (its manifest), no drill records, no claim. */
function bucketWith(bytes: number): void {
  const manifest = manifestOf(bytes);
  s3Mock.on(ListObjectsV2Command).resolves({ Contents: [], KeyCount: 0 });
  s3Mock.on(ListObjectsV2Command, { Prefix: "pg_dump/demo/inventory/" }).resolves({
    Contents: [
      { Key: dumpKey, Size: bytes },
      { Key: `${dumpKey}.manifest.json`, Size: 900 },
    ],
    KeyCount: 2,
  });
  s3Mock
    .on(GetObjectCommand)
    .rejects(Object.assign(new Error("The specified key does not exist."), { name: "NoSuchKey" }));
  s3Mock.on(GetObjectCommand, { Key: `${dumpKey}.manifest.json` }).resolves({
    Body: { transformToString: async () => JSON.stringify(manifest) } as never,
  });
}

const runTasks = () => ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input as RunTaskCommandInput);
const claimDeletes = () =>
  s3Mock.commandCalls(DeleteObjectCommand).filter((c) => c.args[0].input.Key === claimKey).length;

function drillContext(system: System, options: { dryRun?: boolean; env?: Record<string, string> } = {}) {
  return testContext({
    system,
    clients: {
      ...testClients(),
      s3: new S3Client({ region: "us-east-1" }),
      ecs: new ECSClient({ region: "us-east-1" }),
    },
    env: options.env ?? taskEnv,
    now: () => now,
    deadline,
    dryRun: options.dryRun ?? false,
  });
}

beforeEach(() => {
  s3Mock.reset();
  ecsMock.reset();
  s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag-1"' });
  s3Mock.on(DeleteObjectCommand).resolves({});
});

describe("where a restore drill runs (decideDrillPlacement)", () => {
  const base: DrillPlacementInput = {
    runOn: "auto",
    budgetMs: 840_000,
    bytes: 1e9,
    throughputBytesPerMs: 50_000,
    restoreEstimateMs: 300_000,
  };
  const cases: [string, DrillPlacementInput, string, RegExp?][] = [
    [
      "a plain process (no deadline) drills itself, whatever the size",
      { ...base, budgetMs: undefined as never, bytes: 1e12 },
      "here",
    ],
    ["download 20 s + restore 300 s within 840 s runs here", base, "here"],
    ["runOn fargate goes to the task", { ...base, runOn: "fargate" }, "task", /dr\.drill\.runOn/],
    [
      "download 2000 s of 100 GB exceeds the budget: the task, with the numbers",
      { ...base, bytes: 1e11 },
      "task",
      /^estimated download 2000 s \(95368 MiB at 50 MB\/s\) and restore 300 s exceed the 840 s budget$/,
    ],
    [
      "a restore estimate alone over the budget goes too",
      { ...base, restoreEstimateMs: 900_000 },
      "task",
      /restore 900 s exceed the 840 s budget/,
    ],
    [
      "over the budget without a task: skipped, saying why and what to do",
      { ...base, bytes: 1e11, noTask: "the catalogue gives no task network (backup.fargate)" },
      "skip",
      /exceed the 840 s budget, and the catalogue gives no task network \(backup\.fargate\); run it as a plain process/,
    ],
    [
      "a directory backup larger than the function's free disk goes to the task",
      { ...base, bytes: 4e8, localDisk: { freeBytes: 4e8 } },
      "task",
      /directory backup's 382 MiB must be downloaded to local disk and the function has 382 MiB free/,
    ],
    [
      "a directory backup with disk it cannot measure goes to the task",
      { ...base, localDisk: { freeBytes: undefined } },
      "task",
      /has none it can measure/,
    ],
    [
      "a directory backup that fits the disk and the budget runs here",
      { ...base, localDisk: { freeBytes: 1e10 } },
      "here",
    ],
  ];
  for (const [name, input, where, reason] of cases) {
    it(name, () => {
      const placement = decideDrillPlacement(input);
      expect(placement.where).toBe(where);
      if (reason) expect("reason" in placement ? placement.reason : "").toMatch(reason);
    });
  }
});

describe("a directory-format backup in a function (decidePlacement)", () => {
  const needsDisk = "directory format (pg_dump -Fd -j 2)";
  it("goes to the task before any estimate, saying it needs local disk", () => {
    expect(decidePlacement({ runOn: "auto", budgetMs: 840_000, needsDisk })).toEqual({
      where: "task",
      reason: "directory format (pg_dump -Fd -j 2) needs local disk, which a function does not have",
    });
  });
  it("is refused (skipped) with the reason when no task can take it", () => {
    const placement = decidePlacement({
      runOn: "auto",
      budgetMs: 840_000,
      needsDisk,
      noTask: "no backup task is deployed",
    });
    expect(placement.where).toBe("skip");
    expect("reason" in placement && placement.reason).toMatch(
      /needs local disk.*no backup task is deployed; run it as a plain process/,
    );
  });
  it("runs in a plain process (the task itself, or ops run)", () => {
    expect(decidePlacement({ runOn: "auto", needsDisk })).toEqual({ where: "here" });
  });
});

describe("restore drill hand-off to Fargate", () => {
  it("a drill whose download and restore exceed the budget starts the task with the drill's command, claim, network and tags", async () => {
    bucketWith(2e11);
    ecsMock.on(RunTaskCommand).resolves(placed);
    const report = await restoreDrillRunbook.run(drillContext(demoWith()), { jobs: 4 });
    const [request, ...more] = runTasks();
    expect(more).toHaveLength(0);
    const claim = s3Mock
      .commandCalls(PutObjectCommand)
      .map((c) => c.args[0].input as PutObjectCommandInput)
      .find((p) => p.Key === claimKey);
    const holder = JSON.parse(String(claim?.Body)).holder as string;
    expect(request).toMatchObject({
      cluster: "ops-autopilot-backup",
      taskDefinition: "ops-autopilot-backup",
      launchType: "FARGATE",
      clientToken: holder,
      startedBy: "ops-autopilot-restore-drill",
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: network.subnetIds,
          securityGroups: network.securityGroupIds,
          assignPublicIp: "DISABLED",
        },
      },
    });
    expect(request?.overrides?.containerOverrides?.[0]).toEqual({
      name: "ops",
      command: ["run", "restore-drill", "--system", "demo", "database=inventory", "jobs=4"],
      environment: [
        { name: "OPS_CLAIM_HOLDER", value: holder },
        { name: "OPS_CLAIM_KEY", value: claimKey },
      ],
    });
    expect(request?.tags).toEqual([
      { key: "ops-autopilot:runbook", value: "restore-drill" },
      { key: "ops-autopilot:system", value: "demo" },
      { key: "ops-autopilot:database", value: "inventory" },
    ]);
    const handOff = report.actions.find((a) => a.action === "hand-off");
    expect(handOff?.status).toBe("done");
    expect(handOff?.reason).toMatch(new RegExp(`^handed off to Fargate task ${taskArn}: estimated download 4000 s`));
    expect(report.summary).toContain(taskArn);
    // The claim passes to the task: extended, never released.
    expect(claimDeletes()).toBe(0);
    expect(report.status).toBe("succeeded");
  });

  it("dr.drill.runOn fargate hands off a small backup too", async () => {
    bucketWith(1e6);
    ecsMock.on(RunTaskCommand).resolves(placed);
    const report = await restoreDrillRunbook.run(drillContext(demoWith({ drill: { runOn: "fargate" } })), {});
    expect(runTasks()).toHaveLength(1);
    expect(report.actions.find((a) => a.action === "hand-off")?.reason).toMatch(/dr\.drill\.runOn/);
  });

  it("a failed RunTask is reported failed and the claim is released for the next run", async () => {
    bucketWith(2e11);
    ecsMock.on(RunTaskCommand).resolves({
      $metadata: { httpStatusCode: 200 },
      tasks: [],
      failures: [{ reason: "RESOURCE:ENI", detail: "no ENI available in subnet-0abc1234" }],
    });
    const report = await restoreDrillRunbook.run(drillContext(demoWith()), {});
    expect(report.status).toBe("failed");
    expect(report.actions.find((a) => a.action === "hand-off")?.reason).toMatch(/RESOURCE:ENI \(no ENI available/);
    expect(claimDeletes()).toBe(1);
  });

  it("a dry run says it would hand off and starts nothing", async () => {
    bucketWith(2e11);
    const report = await restoreDrillRunbook.run(drillContext(demoWith(), { dryRun: true }), {});
    expect(runTasks()).toHaveLength(0);
    expect(report.actions.find((a) => a.action === "hand-off")?.status).toBe("would-do");
  });

  it("a duplicate event while the task holds the claim starts no second task", async () => {
    bucketWith(2e11);
    s3Mock.on(PutObjectCommand, { Key: claimKey }).rejects(
      Object.assign(new Error("At least one of the pre-conditions you specified did not hold"), {
        name: "PreconditionFailed",
        $metadata: { httpStatusCode: 412 },
      }),
    );
    s3Mock.on(GetObjectCommand, { Key: claimKey }).resolves({
      Body: {
        transformToString: async () =>
          JSON.stringify({
            holder: "task-holder",
            startedAt: "2026-11-21T03:59:00.000Z",
            expiresAt: "2026-11-21T04:19:00.000Z",
          }),
      } as never,
      ETag: '"claim"',
    });
    const report = await restoreDrillRunbook.run(drillContext(demoWith()), {});
    expect(runTasks()).toHaveLength(0);
    expect(report.actions.find((a) => a.action === "restore-drill")?.status).toBe("skipped");
  });

  it("without a deployed task an over-budget drill is skipped with the numbers and nothing starts", async () => {
    bucketWith(2e11);
    const report = await restoreDrillRunbook.run(drillContext(demoWith(), { env: {} }), {});
    expect(runTasks()).toHaveLength(0);
    const skipped = report.actions.find((a) => a.action === "restore-drill");
    expect(skipped?.status).toBe("skipped");
    expect(skipped?.reason).toMatch(/exceed the 840 s budget, and no backup task is deployed/);
  });

  it("the task repeats the inputs given, lists as a,b", () => {
    expect(
      drillTaskInput({
        database: "inventory",
        jobs: 4,
        securityGroupIds: ["sg-0abc1234", "sg-0def5678"],
        tableLimit: undefined,
      }),
    ).toEqual(["jobs=4", "securityGroupIds=sg-0abc1234,sg-0def5678"]);
  });

  it("declares RunTask on exactly the task definition and PassRole on its two roles for a pg_dump drill", () => {
    const statements = restoreDrillRunbook.permissions(demoWith());
    const runTask = statements.find((p) => p.actions.includes("ecs:RunTask"));
    expect(runTask?.resources).toEqual(["arn:aws:ecs:us-east-1:123456789012:task-definition/ops-autopilot-backup:*"]);
    const passRole = statements.find((p) => p.actions.includes("iam:PassRole"));
    expect(passRole?.resources).toHaveLength(2);
  });
});

describe("directory manifest digest", () => {
  it("does not depend on the order the files were listed in, and changes with any file", () => {
    const a = { name: "3358.dat.gz", bytes: 10, sha256: "1".repeat(64) };
    const b = { name: "toc.dat", bytes: 20, sha256: "2".repeat(64) };
    expect(filesDigest([a, b])).toBe(filesDigest([b, a]));
    expect(filesDigest([a, { ...b, bytes: 21 }])).not.toBe(filesDigest([a, b]));
  });
});
