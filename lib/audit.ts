import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { Report } from "../runbooks/types.js";
import { redactValue } from "./redact.js";

/** Keeps a durable record of every action of every run (besides the structured log). */
export interface AuditSink {
  record(report: Report): Promise<void>;
}

/** Key of a run's audit record: one JSON-lines object per run, partitioned by system and UTC day. */
export function auditKey(report: Report): string {
  const day = report.startedAt.slice(0, 10).replace(/-/g, "/");
  const stamp = report.startedAt.replace(/[-:.]/g, "");
  return `audit/${report.system}/${day}/${stamp}-${report.runbook}${report.dryRun ? "-dry-run" : ""}.jsonl`;
}

/**
 * Writes each report to S3 as JSON lines: one line per action (with the run's identity), then a
 * summary line. Secrets are removed first. S3 being the store keeps the project free of a database.
 */
export function createS3AuditSink(options: { s3: S3Client; bucket: string }): AuditSink {
  return {
    async record(report) {
      const clean = redactValue(report);
      const run = { runbook: clean.runbook, system: clean.system, dryRun: clean.dryRun, startedAt: clean.startedAt };
      const lines = [
        ...clean.actions.map((action) => JSON.stringify({ type: "action", ...run, ...action })),
        JSON.stringify({
          type: "summary",
          ...run,
          status: clean.status,
          finishedAt: clean.finishedAt,
          summary: clean.summary,
          metrics: clean.metrics,
        }),
      ];
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: auditKey(clean),
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
