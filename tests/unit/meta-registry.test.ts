import { DescribeScalableTargetsCommand } from "@aws-sdk/client-application-auto-scaling";
import { DescribeServicesCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { runbooks } from "../../runbooks/index.js";
import { scaleUpRunbook } from "../../runbooks/scale-up/index.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { builtinFleet } from "../../systems/index.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { testClients, testContext } from "../helpers/context.js";
import {
  accessLevelOf,
  iamActionOf,
  iamFixture,
  recordingClients,
  type SentCommand,
  violationOf,
  watchRunbook,
} from "../helpers/iam-meta.js";

const s3Mock = mockClient(S3Client);
afterEach(() => s3Mock.reset());

const finished = (name: string): Report => ({
  runbook: name,
  system: "demo",
  dryRun: false,
  status: "succeeded",
  startedAt: "",
  finishedAt: "",
  actions: [],
  metrics: {},
  summary: "",
});

/** A runbook that lists the demo bucket, then writes one object: declared reads only, unless `declareWrite`. */
function brokenRunbook(options: { declareWrite: boolean; bucketPattern?: string }): AnyRunbook {
  const bucket = options.bucketPattern ?? "arn:aws:s3:::demo-backups";
  return {
    name: "broken",
    description: "test double",
    destructive: false,
    input: z.strictObject({}),
    permissions: () => [
      { actions: ["s3:ListBucket"], resources: [bucket] },
      ...(options.declareWrite ? [{ actions: ["s3:PutObject"], resources: [`${bucket}/*`] }] : []),
    ],
    async run(ctx) {
      await ctx.clients.s3.send(new ListObjectsV2Command({ Bucket: "demo-backups" }));
      await ctx.clients.s3.send(new PutObjectCommand({ Bucket: "demo-backups", Key: "x/y.json", Body: "{}" }));
      return finished("broken");
    },
  };
}

async function violationsOf(runbook: AnyRunbook, dryRun: boolean): Promise<string[]> {
  const found: string[] = [];
  const unwatch = watchRunbook(runbook, (m) => found.push(m));
  try {
    await runbook.run(testContext({ dryRun }), {});
  } finally {
    unwatch();
  }
  return found;
}

describe("the registry's permissions meta-checks", () => {
  it("every IAM action a runbook declares for a system of the fleet exists in the Service Authorization Reference", () => {
    const declared = builtinFleet().systems.flatMap((system) =>
      runbooks.flatMap((runbook) =>
        runbook.permissions(system).flatMap((p) => p.actions.map((action) => ({ runbook, system, action }))),
      ),
    );
    const unknown = declared
      .filter(({ action }) => !accessLevelOf(action))
      .map(({ runbook, system, action }) => `${runbook.name}/${system.id}: ${action}`);
    expect(unknown).toEqual([]);
    expect(iamFixture.source).toMatch(/Service Authorization Reference/);
  });

  it("maps SDK commands onto the IAM actions that authorise them, each a real action", () => {
    expect(iamActionOf("S3", "ListObjectsV2Command")).toBe("s3:ListBucket");
    expect(iamActionOf("S3", "UploadPartCommand")).toBe("s3:PutObject");
    expect(iamActionOf("S3", "DeleteObjectsCommand")).toBe("s3:DeleteObject");
    expect(iamActionOf("Application Auto Scaling", "RegisterScalableTargetCommand")).toBe(
      "application-autoscaling:RegisterScalableTarget",
    );
    expect(iamActionOf("Lambda", "InvokeCommand")).toBe("lambda:InvokeFunction");
    for (const action of ["s3:ListBucket", "s3:PutObject", "s3:DeleteObject", "lambda:InvokeFunction"]) {
      expect(accessLevelOf(action), action).toBeDefined();
    }
    expect(() => iamActionOf("Imaginary", "DoCommand")).toThrow(/no IAM prefix known for SDK service "Imaginary"/);
  });

  it("a runbook that sends a command it does not declare is caught", async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"e"' });
    const found = await violationsOf(brokenRunbook({ declareWrite: false }), false);
    expect(found).toEqual(['runbook "broken" (system demo) sent s3:PutObject, which its permissions do not declare']);
  });

  it("a runbook that writes during a dry run is caught, even when the write is declared", async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"e"' });
    const found = await violationsOf(brokenRunbook({ declareWrite: true }), true);
    expect(found).toEqual([
      'runbook "broken" (system demo, dry run) sent s3:PutObject (Write) during a dry run: a dry run sends reads only',
    ]);
    expect(await violationsOf(brokenRunbook({ declareWrite: true }), false)).toEqual([]);
  });

  it("an S3 command outside the declared buckets and keys is caught", async () => {
    s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"e"' });
    const found = await violationsOf(brokenRunbook({ declareWrite: true, bucketPattern: "arn:aws:s3:::other" }), false);
    expect(found).toHaveLength(2);
    expect(found[0]).toContain("s3:ListBucket on arn:aws:s3:::demo-backups, outside the resources it declares");
    expect(found[1]).toContain("s3:PutObject on arn:aws:s3:::demo-backups/x/y.json, outside the resources");
  });

  it("sees what a registered runbook sends through its context, and holds it to its declaration", async () => {
    // scale-up still restores services left recorded as scaled down where off-hours is disabled (Flash
    // Sale), so it reads them there: its grant must cover that (it declared nothing before).
    const clients = testClients();
    const ecs = mockClient(clients.ecs);
    ecs.on(DescribeServicesCommand).resolves({
      services: [
        {
          serviceName: "flash-sale-service",
          serviceArn: `arn:aws:ecs:ap-south-1:${ACCOUNT_ID}:service/flash-sale-cluster/flash-sale-service`,
          status: "ACTIVE",
          desiredCount: 10,
          runningCount: 10,
          tags: [],
          deployments: [
            { id: "ecs-svc/1", status: "PRIMARY", rolloutState: "COMPLETED", desiredCount: 10, runningCount: 10 },
          ],
        },
      ],
      failures: [],
    });
    mockClient(clients.autoscaling)
      .on(DescribeScalableTargetsCommand)
      .resolves({
        ScalableTargets: [
          {
            ServiceNamespace: "ecs",
            ResourceId: "service/flash-sale-cluster/flash-sale-service",
            ScalableDimension: "ecs:service:DesiredCount",
            MinCapacity: 10,
            MaxCapacity: 50,
            RoleARN: `arn:aws:iam::${ACCOUNT_ID}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`,
            CreationTime: new Date("2026-01-01T00:00:00Z"),
          },
        ],
      });
    const sent: SentCommand[] = [];
    const found: string[] = [];
    const unwatch = watchRunbook(
      scaleUpRunbook,
      (m) => found.push(m),
      (c) => sent.push(c),
    );
    try {
      const report = await scaleUpRunbook.run(
        testContext({ system: "flash-sale", clients }),
        scaleUpRunbook.input.parse({}),
      );
      expect(report.status, report.summary).not.toBe("failed");
    } finally {
      unwatch();
    }
    expect(sent.map((c) => c.action)).toContain("ecs:DescribeServices");
    expect(sent.every((c) => c.runbook === "scale-up" && c.system === "flash-sale")).toBe(true);
    expect(found, found.join("; ")).toEqual([]);
    expect(ecs.commandCalls(DescribeServicesCommand).length).toBeGreaterThan(0);
  });

  it("records every client of the context, and a write in a dry run breaks the rule", async () => {
    const clients = testClients();
    const ecs = mockClient(clients.ecs);
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [] });
    ecs.on(UpdateServiceCommand).resolves({});
    const sent: SentCommand[] = [];
    const ctx = testContext({ system: "demo", clients });
    const recording = recordingClients(clients, {
      runbook: "probe",
      system: ctx.system,
      dryRun: true,
      sink: (c) => sent.push(c),
    });
    await recording.ecs.send(new DescribeServicesCommand({ cluster: "c", services: ["s"] }));
    await recording.ecs.send(new UpdateServiceCommand({ cluster: "c", service: "s", desiredCount: 1 }));
    expect(sent.map((c) => c.action)).toEqual(["ecs:DescribeServices", "ecs:UpdateService"]);
    expect(violationOf(sent[1] as SentCommand, [{ actions: ["ecs:UpdateService"], resources: ["*"] }])).toMatch(
      /during a dry run/,
    );
    expect(ecs.commandCalls(UpdateServiceCommand)).toHaveLength(1);
  });
});
