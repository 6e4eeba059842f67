import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Context } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createRdsEventHandler } from "../../functions/rds-event.js";
import { createRuntime } from "../../functions/runtime.js";
import { createScheduledHandler } from "../../functions/scheduled.js";
import { createWorkerHandler } from "../../functions/worker.js";
import { createS3AuditSink } from "../../lib/audit.js";
import { ReportBuilder } from "../../runbooks/report.js";
import type { Runbook } from "../../runbooks/types.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { memoryLogger, recordingNotifier, testClients } from "../helpers/context.js";

/** A runbook that records its calls and, when asked, waits for the abort signal like a long job. */
function probeRunbook() {
  const calls: { input: unknown; dryRun: boolean; deadline?: Date }[] = [];
  const runbook: Runbook<z.ZodObject<{ wait: z.ZodDefault<z.ZodBoolean>; n: z.ZodOptional<z.ZodNumber> }>> = {
    name: "probe",
    description: "records how it was called",
    destructive: false,
    input: z.strictObject({ wait: z.boolean().default(false), n: z.number().optional() }),
    permissions: () => [],
    async run(ctx, input) {
      calls.push({ input, dryRun: ctx.dryRun, ...(ctx.deadline ? { deadline: ctx.deadline } : {}) });
      const report = new ReportBuilder(ctx, "probe");
      if (input.wait) {
        await new Promise<void>((resolve) => ctx.signal?.addEventListener("abort", () => resolve(), { once: true }));
        report.add({ resource: "x", action: "first", status: "done" });
        report.markAborted("deadline");
      } else {
        report.add({ resource: "x", action: "probe", status: ctx.dryRun ? "would-do" : "done" });
      }
      return report.finish({ summary: "probed" });
    },
  };
  return { runbook, calls };
}

function lambdaContext(remainingMs: number): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "ops-autopilot-scheduled",
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:af-south-1:${ACCOUNT_ID}:function:ops-autopilot-scheduled`,
    memoryLimitInMB: "1024",
    awsRequestId: "c6af9ac6-7b61-11e6-9a41-93e812345678",
    logGroupName: "/aws/lambda/ops-autopilot-scheduled",
    logStreamName: "2026/11/21/[$LATEST]abcdef",
    getRemainingTimeInMillis: () => remainingMs - (Date.now() - started),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function setup(env: Record<string, string> = {}, options: { registryExtra?: Runbook[] } = {}) {
  const probe = probeRunbook();
  const { logger, lines } = memoryLogger();
  const emf: string[] = [];
  const metrics = new Metrics({ namespace: "OpsAutopilot", serviceName: "test" });
  // Powertools prints EMF records through a private Console on stdout; capture them instead.
  (metrics as unknown as { console: Pick<Console, "log" | "warn"> }).console = {
    log: (line: string) => void emf.push(line),
    warn: () => {},
  };
  const notifier = recordingNotifier();
  const runtime = createRuntime(
    {
      registry: [probe.runbook, ...(options.registryExtra ?? [])],
      logger,
      metrics,
      notify: notifier,
      now: () => new Date("2026-11-21T01:00:00Z"),
      clientsFor: () => testClients(),
    },
    env,
  );
  return { probe, lines, emf, notifier, runtime };
}

describe("scheduled handler", () => {
  it("runs the named runbook with input given as a JSON string (SST cron events carry strings)", async () => {
    const { probe, notifier, runtime, emf } = setup();
    const report = await createScheduledHandler(runtime)(
      { runbook: "probe", system: "partpal-ims", input: '{"n":3}', scheduleId: "partpal-ims-probe" },
      lambdaContext(60_000),
    );
    expect(probe.calls).toEqual([{ input: { wait: false, n: 3 }, dryRun: false, deadline: expect.any(Date) }]);
    expect(report.status).toBe("succeeded");
    expect(notifier.reports).toHaveLength(1);
    const records = emf.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records[0]).toMatchObject({ RunCompleted: 1, System: "partpal-ims", Runbook: "probe", Status: "succeeded" });
  });

  it.each([
    [{ system: "partpal-ims" }, /runbook/],
    [{ runbook: "probe", system: "partpal-ims", input: "{not json" }, /input must be a JSON object/],
    [{ runbook: "probe", system: "partpal-ims", extra: 1 }, /extra/],
    [{ runbook: "probe", system: "atlantis" }, /unknown system "atlantis"/],
    [{ runbook: "defrost", system: "partpal-ims" }, /unknown runbook "defrost"; known runbooks: probe/],
    [{ runbook: "probe", system: "partpal-ims", input: { n: "three" } }, /invalid input for runbook "probe"/],
  ])("rejects %j with the reason and runs nothing", async (event, message) => {
    const { probe, notifier, runtime, lines } = setup();
    await expect(createScheduledHandler(runtime)(event, lambdaContext(60_000))).rejects.toThrow(message);
    expect(probe.calls).toHaveLength(0);
    expect(notifier.reports).toHaveLength(0);
    if (!("runbook" in event) || (event as { input?: unknown }).input === "{not json" || "extra" in event) {
      expect(lines().some((l) => l.message === "rejected scheduled event")).toBe(true);
    }
  });

  it("stops before the Lambda deadline and reports partial", async () => {
    const { runtime } = setup({ OPS_DEADLINE_MARGIN_MS: "1000" });
    const started = Date.now();
    const report = await createScheduledHandler(runtime)(
      { runbook: "probe", system: "demo", input: { wait: true } },
      lambdaContext(1200),
    );
    expect(report.status).toBe("partial");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("OPS_DRY_RUN turns every run into a dry run", async () => {
    const { probe, runtime } = setup({ OPS_DRY_RUN: "true" });
    const report = await createScheduledHandler(runtime)({ runbook: "probe", system: "demo" }, lambdaContext(60_000));
    expect(probe.calls[0]?.dryRun).toBe(true);
    expect(report.dryRun).toBe(true);
  });

  it("an invalid function environment fails at cold start", () => {
    expect(() => createRuntime({}, { OPS_DRY_RUN: "maybe" })).toThrow(/OPS_DRY_RUN: must be true or false/);
  });
});

describe("worker handler", () => {
  it("requires who asked, and runs with it", async () => {
    const { probe, runtime, lines } = setup();
    await expect(
      createWorkerHandler(runtime)({ runbook: "probe", system: "demo" }, lambdaContext(60_000)),
    ).rejects.toThrow(/requestedBy/);
    expect(probe.calls).toHaveLength(0);
    await createWorkerHandler(runtime)(
      { runbook: "probe", system: "demo", requestedBy: "slack:U123", dryRun: true },
      lambdaContext(60_000),
    );
    expect(probe.calls[0]?.dryRun).toBe(true);
    expect(lines().some((l) => l.requestedBy === "slack:U123")).toBe(true);
  });
});

describe("audit log", () => {
  it("writes every action and a summary as JSON lines, secrets removed", async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({ ETag: '"d41d8cd98f00b204e9800998ecf8427e"', ServerSideEncryption: "AES256" });
    const { runtime } = setup();
    const audited = {
      ...runtime,
      audit: createS3AuditSink({ s3: new S3Client({ region: "us-east-1" }), bucket: "audit-bucket" }),
    };
    await createScheduledHandler(audited)({ runbook: "probe", system: "demo" }, lambdaContext(60_000));
    const put = s3.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(put?.Bucket).toBe("audit-bucket");
    // A create, never a replacement: the function's policy only allows PutObject with If-None-Match,
    // and Object Lock needs a checksum on every write.
    expect(put?.IfNoneMatch).toBe("*");
    expect(put?.ChecksumAlgorithm).toBe("CRC32");
    expect(put?.Key).toBe("audit/demo/2026/11/21/20261121T010000000Z-probe.jsonl");
    const lines = String(put?.Body)
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ type: "action", runbook: "probe", system: "demo", action: "probe", status: "done" }),
      expect.objectContaining({ type: "summary", status: "succeeded", summary: "probed" }),
    ]);
    s3.restore();
  });

  it("a failing audit write does not change the run's outcome", async () => {
    const { runtime, lines } = setup();
    const failing = { ...runtime, audit: { record: async () => Promise.reject(new Error("AccessDenied")) } };
    const report = await createScheduledHandler(failing)({ runbook: "probe", system: "demo" }, lambdaContext(60_000));
    expect(report.status).toBe("succeeded");
    expect(lines().some((l) => l.message === "audit record failed")).toBe(true);
  });
});

describe("RDS event handler", () => {
  const fixture = (name: string) =>
    JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", name), "utf8")) as Record<string, unknown>;

  function rdsSetup() {
    const { runtime, probe } = setup();
    // The handler always runs drill-continue; a recording runbook of that name stands in for it here.
    const continueProbe = { ...probe.runbook, name: "drill-continue", input: z.looseObject({}) };
    return { runtime: { ...runtime, registry: [continueProbe] }, calls: probe.calls };
  }

  it("continues the drill of the system that owns the scratch instance, with the event detail", async () => {
    const { runtime, calls } = rdsSetup();
    const event = fixture("rds-event-restored-pitr.json");
    const report = await createRdsEventHandler(runtime)(event, lambdaContext(60_000));
    expect(report.system).toBe("flash-sale");
    expect(calls[0]?.input).toMatchObject({
      SourceIdentifier: "drill-flash-sale-98e94-main-c84641-20261121t100000z",
      EventID: "RDS-EVENT-0019",
    });
  });

  it("rejects an event for an instance no system owns, and a malformed event; nothing runs", async () => {
    const { runtime, calls } = rdsSetup();
    await expect(
      createRdsEventHandler(runtime)(fixture("rds-event-source-backup.json"), lambdaContext(60_000)),
    ).rejects.toThrow(/"flash-sale-db" is not a drill instance of any system/);
    await expect(
      createRdsEventHandler(runtime)({ source: "aws.ec2", detail: {} }, lambdaContext(60_000)),
    ).rejects.toThrow(/invalid RDS instance event/);
    expect(calls).toHaveLength(0);
  });
});

describe("a deployed function runs its own runbook for its own systems only", () => {
  const pinned = { OPS_RUNBOOK: "probe", OPS_SYSTEMS: "partpal-ims,flash-sale" };
  // A second runbook in the registry, so that naming it passes every other check.
  const other = { ...probeRunbook().runbook, name: "prune-backups" };

  it("runs its runbook for a system it serves", async () => {
    const { probe, runtime } = setup(pinned, { registryExtra: [other] });
    const report = await createScheduledHandler(runtime)(
      { runbook: "probe", system: "flash-sale" },
      lambdaContext(60_000),
    );
    expect(report.status).toBe("succeeded");
    expect(probe.calls).toHaveLength(1);
  });

  it.each([
    [
      "another runbook",
      { runbook: "prune-backups", system: "partpal-ims" },
      /runs runbook "probe" only; the event names runbook "prune-backups"/,
    ],
    [
      "another system",
      { runbook: "probe", system: "ode" },
      /serves partpal-ims, flash-sale only; the event names system "ode"/,
    ],
  ])(
    "rejects an event naming %s, logs why, runs and notifies nothing (scheduled and worker)",
    async (_what, event, message) => {
      const { probe, runtime, lines, notifier } = setup(pinned, { registryExtra: [other] });
      await expect(createScheduledHandler(runtime)(event, lambdaContext(60_000))).rejects.toThrow(message);
      await expect(
        createWorkerHandler(runtime)({ ...event, requestedBy: "slack:U123" }, lambdaContext(60_000)),
      ).rejects.toThrow(message);
      expect(probe.calls).toHaveLength(0);
      expect(notifier.reports).toHaveLength(0);
      const rejected = lines().filter((l) => l.message === "rejected event");
      expect(rejected).toHaveLength(2);
      expect(String(rejected[0]?.reason)).toMatch(message);
    },
  );

  it("the RDS event function rejects a drill instance of a system it does not serve", async () => {
    // The handler always runs drill-continue; a recording runbook of that name stands in for it here.
    const recorder = probeRunbook();
    const continueProbe = { ...recorder.runbook, name: "drill-continue", input: z.looseObject({}) };
    const { runtime, lines } = setup(
      { OPS_RUNBOOK: "drill-continue", OPS_SYSTEMS: "ims-2" },
      { registryExtra: [continueProbe] },
    );
    const probe = recorder;
    const rds = runtime;
    const event = JSON.parse(
      readFileSync(join(import.meta.dirname, "..", "fixtures", "rds-event-restored-pitr.json"), "utf8"),
    ) as unknown;
    await expect(createRdsEventHandler(rds)(event, lambdaContext(60_000))).rejects.toThrow(
      /serves ims-2 only; the event names system "flash-sale"/,
    );
    expect(probe.calls).toHaveLength(0);
    expect(lines().some((l) => l.message === "rejected event")).toBe(true);
  });

  it("inside Lambda a function without its runbook and systems refuses to start", () => {
    expect(() => createRuntime({ registry: [probeRunbook().runbook] }, { AWS_LAMBDA_FUNCTION_NAME: "f" })).toThrow(
      /OPS_RUNBOOK: required/,
    );
    expect(() =>
      createRuntime({ registry: [probeRunbook().runbook] }, { AWS_LAMBDA_FUNCTION_NAME: "f", OPS_RUNBOOK: "probe" }),
    ).toThrow(/OPS_SYSTEMS: required/);
  });

  it("an unknown runbook or system in the environment fails at cold start", () => {
    expect(() =>
      createRuntime({ registry: [probeRunbook().runbook] }, { OPS_RUNBOOK: "defrost", OPS_SYSTEMS: "ode" }),
    ).toThrow(/OPS_RUNBOOK: unknown runbook "defrost"; known: probe/);
    expect(() =>
      createRuntime({ registry: [probeRunbook().runbook] }, { OPS_RUNBOOK: "probe", OPS_SYSTEMS: "ode,atlantis" }),
    ).toThrow(/OPS_SYSTEMS: unknown systems atlantis/);
  });
});
