import { Metrics } from "@aws-lambda-powertools/metrics";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { runCommand } from "../../cli/commands/run.js";
import { METRICS_NAMESPACE, publishReportMetrics } from "../../lib/metrics.js";
import { ReportBuilder } from "../../runbooks/report.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { builtinFleet } from "../../systems/index.js";
import { memoryLogger } from "../helpers/context.js";
import { capture } from "../helpers/files.js";

const cloudwatch = mockClient(CloudWatchClient);
const NOW = new Date("2026-12-01T03:00:00Z");

/** A backup-shaped run: one database dumped, its BackupAgeSeconds point, as runbooks/backup/index.ts reports it. */
const fakeBackup: AnyRunbook = {
  name: "backup",
  description: "reports what a backup of one database reports",
  destructive: false,
  input: z.strictObject({ database: z.string().optional() }),
  permissions: () => [],
  async run(ctx) {
    const report = new ReportBuilder(ctx, "backup");
    report.add({ resource: "s3://partpal-ims-backups/pg_dump/x.dump", action: "backup", status: "done" });
    report.series.push({
      name: "BackupAgeSeconds",
      unit: "Seconds",
      value: 0,
      dimensions: { System: ctx.system.id, Database: "main" },
    });
    return report.finish({ summary: "backed up main" });
  },
};

/** `ops run backup` as the Fargate task runs it (its environment from deploy/plan.ts). */
async function taskRun(options: { dryRun?: boolean; env?: Record<string, string> } = {}) {
  const out = capture();
  const err = capture();
  const logs = memoryLogger();
  let report: Report | undefined;
  const registry: AnyRunbook[] = [
    {
      ...fakeBackup,
      run: async (ctx, input) => {
        report = await fakeBackup.run(ctx, input);
        return report;
      },
    },
  ];
  const code = await runCommand(
    {
      out: out.stream,
      err: err.stream,
      env: { OPS_REPORT_TO: "deployment", OPS_METRICS_REGION: "us-east-1", ...options.env },
      now: () => NOW,
    },
    { fleet: builtinFleet(), registry, logger: logs.logger },
    { runbook: "backup", system: "partpal-ims", dryRun: options.dryRun ?? false, json: true, pairs: [] },
  );
  return { code, report, logs: logs.lines() };
}

/** The metric names and dimension sets of the EMF records the Lambda path writes for a report. */
function lambdaPublishes(report: Report): { name: string; dimensions: Record<string, string> }[] {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    // As functions/runtime.ts builds it and runInLambda publishes with it.
    publishReportMetrics(new Metrics({ namespace: METRICS_NAMESPACE, serviceName: "ops-autopilot" }), report);
  } finally {
    write.mockRestore();
  }
  return lines.flatMap((line) => {
    const record = JSON.parse(line) as {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    } & Record<string, unknown>;
    return record._aws.CloudWatchMetrics.flatMap((directive) => {
      expect(directive.Namespace).toBe(METRICS_NAMESPACE);
      return directive.Metrics.map((metric) => ({
        name: metric.Name,
        dimensions: Object.fromEntries((directive.Dimensions[0] ?? []).map((d) => [d, String(record[d])])),
      }));
    });
  });
}

beforeEach(() => {
  cloudwatch.reset();
  cloudwatch.on(PutMetricDataCommand).resolves({ $metadata: { httpStatusCode: 200 } });
});

afterEach(() => {
  cloudwatch.reset();
});

describe("the Fargate task's report metrics", () => {
  it("go out with PutMetricData under the names and dimensions the Lambda path publishes as EMF", async () => {
    // Prepare, Act
    const { code, report } = await taskRun();
    // Assess
    expect(code).toBe(0);
    const calls = cloudwatch.commandCalls(PutMetricDataCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.Namespace).toBe(METRICS_NAMESPACE);
    const sent = (input?.MetricData ?? []).map((d) => ({
      name: d.MetricName,
      dimensions: Object.fromEntries((d.Dimensions ?? []).map((x) => [x.Name, x.Value])),
    }));
    if (!report) throw new Error("the runbook did not run");
    expect(sent).toEqual(lambdaPublishes(report));
    // Both paths: RunCompleted (service, System, Runbook, Status) and BackupAgeSeconds (service, System, Database).
    expect(sent).toEqual([
      {
        name: "RunCompleted",
        dimensions: { service: "ops-autopilot", System: "partpal-ims", Runbook: "backup", Status: "succeeded" },
      },
      { name: "BackupAgeSeconds", dimensions: { service: "ops-autopilot", System: "partpal-ims", Database: "main" } },
    ]);
    expect(input?.MetricData?.map((d) => [d.Value, d.Unit, d.Timestamp?.toISOString()])).toEqual([
      [1, "Count", NOW.toISOString()],
      [0, "Seconds", NOW.toISOString()],
    ]);
  });

  it("are sent to the deployment's region (where the alarms are), not the system's", async () => {
    await taskRun({ env: { OPS_METRICS_REGION: "eu-west-1" } });
    const [call] = cloudwatch.commandCalls(PutMetricDataCommand);
    const client = call?.thisValue as CloudWatchClient | undefined;
    expect(await client?.config.region()).toBe("eu-west-1");
  });

  it("a dry run publishes none, as the Lambda path", async () => {
    const { code, report } = await taskRun({ dryRun: true });
    expect(code).toBe(0);
    expect(report?.dryRun).toBe(true);
    expect(cloudwatch.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });

  it("a run outside the deployment (a laptop) publishes none", async () => {
    await taskRun({ env: { OPS_REPORT_TO: "" } });
    expect(cloudwatch.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });

  it("a refused PutMetricData is logged and leaves the run's outcome as it was", async () => {
    cloudwatch
      .on(PutMetricDataCommand)
      .rejects(new Error("AccessDenied: not authorized to perform cloudwatch:PutMetricData"));
    const { code, logs } = await taskRun();
    expect(code).toBe(0);
    expect(logs).toContainEqual(
      expect.objectContaining({
        message: "report metrics not published",
        region: "us-east-1",
        error: expect.stringMatching(/AccessDenied/),
      }),
    );
  });
});
