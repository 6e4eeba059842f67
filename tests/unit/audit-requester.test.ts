import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { createS3AuditSink } from "../../lib/audit.js";
import type { Report } from "../../runbooks/types.js";

const report: Report = {
  runbook: "scale-down",
  system: "flash-sale",
  dryRun: false,
  status: "succeeded",
  startedAt: "2026-12-01T12:00:00.000Z",
  finishedAt: "2026-12-01T12:00:02.000Z",
  actions: [{ resource: "flash-sale-service", action: "scale to 10", status: "done" }],
  metrics: {},
  summary: "scaled",
};

describe("audit record: who asked", () => {
  it("every line of a run carries requestedBy (a Slack requester and approver)", async () => {
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
    const sink = createS3AuditSink({ s3: new S3Client({ region: "us-east-1" }), bucket: "audit" });
    await sink.record(report, { requestedBy: "slack:U0ALICE01 approved by slack:U0BOB0002" });
    const lines = String(s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Body)
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.type, l.requestedBy])).toEqual([
      ["action", "slack:U0ALICE01 approved by slack:U0BOB0002"],
      ["summary", "slack:U0ALICE01 approved by slack:U0BOB0002"],
    ]);
    await sink.record(report);
    const unnamed = String(s3.commandCalls(PutObjectCommand)[1]?.args[0].input.Body);
    expect(unnamed).not.toContain("requestedBy");
    s3.restore();
  });
});
