import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Report } from "./report.js";

/** Keeps a durable record of every action of every run (besides the structured log). */
export interface AuditSink {
  /** `run.requestedBy`: who asked (`slack:<user>`, `slack:<user> approved by slack:<approver>`, a schedule id). */
  record(report: Report, run?: { requestedBy?: string }): Promise<void>;
}

/** Key of a run's audit record: one JSON-lines object per run, partitioned by system and UTC day. */
export function auditKey(report: Report): string {
  const day = report.startedAt.slice(0, 10).replace(/-/g, "/");
  const stamp = report.startedAt.replace(/[-:.]/g, "");
  return `audit/${report.system}/${day}/${stamp}-${report.runbook}${report.dryRun ? "-dry-run" : ""}.jsonl`;
}

/**
 * Writes each report to S3 as JSON lines: one line per action (with the run's identity), then a
 * summary line. The runner hands it reports already redacted (lib/redact.ts). S3 being the store keeps the
 * project free of a database.
 */
export function createS3AuditSink(options: { s3: S3Client; bucket: string }): AuditSink {
  return {
    async record(report, who) {
      const run = {
        runbook: report.runbook,
        system: report.system,
        dryRun: report.dryRun,
        startedAt: report.startedAt,
        ...(who?.requestedBy ? { requestedBy: who.requestedBy } : {}),
      };
      const lines = [
        ...report.actions.map((action) => JSON.stringify({ type: "action", ...run, ...action })),
        JSON.stringify({
          type: "summary",
          ...run,
          status: report.status,
          finishedAt: report.finishedAt,
          summary: report.summary,
          metrics: report.metrics,
        }),
      ];
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: auditKey(report),
          Body: `${lines.join("\n")}\n`,
          ContentType: "application/x-ndjson",
          ServerSideEncryption: "AES256",
          // Records are written once: the function's policy allows only creates (`s3:if-none-match`),
          // and Object Lock on the bucket needs a checksum on every write.
          IfNoneMatch: "*",
          ChecksumAlgorithm: "CRC32",
        }),
      );
    },
  };
}
