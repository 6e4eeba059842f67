import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger } from "../../lib/logger.js";
import { redactText, redactValue } from "../../lib/redact.js";
import { ReportBuilder } from "../../runbooks/report.js";
import { executeRun } from "../../runbooks/runner.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { builtinFleet } from "../../systems/index.js";
import { memoryLogger, testClients } from "../helpers/context.js";

describe("secrets never reach logs", () => {
  it("scrubs passwords from URLs and key=value text", () => {
    expect(redactText("pg_dump: error: connection to postgres://partpal:Pa55w0rd@db:5432/x failed")).toBe(
      "pg_dump: error: connection to postgres://partpal:[redacted]@db:5432/x failed",
    );
    expect(redactText("host=db password=abc123 user=x")).toBe("host=db password=[redacted] user=x");
  });

  it("replaces secret-named fields in nested values", () => {
    expect(redactValue({ a: { password: "p", token: "t", user: "u" }, list: [{ apiKey: "k" }] })).toEqual({
      a: { password: "[redacted]", token: "[redacted]", user: "u" },
      list: [{ apiKey: "[redacted]" }],
    });
  });

  it("the logger redacts structured fields and messages", () => {
    let out = "";
    const stream = new Writable({
      write(chunk, _e, cb) {
        out += String(chunk);
        cb();
      },
    });
    const logger = createLogger({ stream, logLevel: "INFO" });
    logger.info("connecting to postgres://u:sekret@h/db", {
      password: "sekret2",
      databaseUrl: "postgres://u:sekret3@h/d",
    });
    expect(out).toContain("[redacted]");
    expect(out).not.toMatch(/sekret/);
  });

  it("scrubs the forms that slipped through: JSON, PGPASSWORD=, a `/` in a URL's password", () => {
    const text = [
      'secret body {"password":"hunter2","user":"u"}',
      'escaped {\\"password\\":\\"hunter3\\"}',
      "PGPASSWORD=hunter4 pg_dump -h db",
      "DB_PASSWORD: hunter5",
      "postgres://app:pa/ss@db:5432/x refused",
      "postgres://app:p@ss/w:rd@db:5432/x refused",
      "Authorization: Bearer abcdefghijklmnop",
    ].join("\n");
    const clean = redactText(text);
    for (const secret of ["hunter2", "hunter3", "hunter4", "hunter5", "pa/ss", "ss/w:rd", "abcdefghijklmnop"]) {
      expect(clean).not.toContain(secret);
    }
    expect(clean).toContain('{"password":"[redacted]","user":"u"}');
    expect(clean).toContain("postgres://app:[redacted]@db:5432/x refused");
    // Text may pass two exits (the runner, then the CLI): a second pass changes nothing.
    expect(redactText(clean)).toBe(clean);
    // Text without secrets is left alone (times, hosts, a user name in a URL).
    expect(redactText('postgres://app@db:5432/x at 08:33; secret "ims/rds": AccessDenied')).toBe(
      'postgres://app@db:5432/x at 08:33; secret "ims/rds": AccessDenied',
    );
  });

  it("the logger redacts an error's message and stack", () => {
    let out = "";
    const stream = new Writable({
      write(chunk, _e, cb) {
        out += String(chunk);
        cb();
      },
    });
    createLogger({ stream, logLevel: "INFO" }).error("runbook threw", {
      error: new Error('secret rejected: {"password":"hunter6"} PGPASSWORD=hunter7'),
    });
    expect(out).toContain("runbook threw");
    expect(out).not.toMatch(/hunter6|hunter7/);
  });
});

describe("the runner is the one redaction boundary of reports", () => {
  const leaky: AnyRunbook = {
    name: "leaky",
    description: "quotes upstream errors verbatim",
    destructive: false,
    input: z.object({ mode: z.enum(["report", "throw"]).default("report") }),
    permissions: () => [],
    async run(ctx, options) {
      if (options.mode === "throw") throw new Error('upstream said {"password":"thrown-secret"}');
      const report = new ReportBuilder(ctx, "leaky");
      report.add({
        resource: "demo/inventory",
        action: "backup",
        status: "failed",
        reason: "PGPASSWORD=report-secret postgres://a:b/c@h/d",
        before: { password: "field-secret" },
      });
      return report.finish({ summary: 'failed: {"password":"summary-secret"}', status: "failed" });
    },
  };

  for (const mode of ["report", "throw"] as const) {
    it(`audit, notifier, log and the returned report never see a secret (${mode})`, async () => {
      // Prepare
      const audited: Report[] = [];
      const notified: Report[] = [];
      const { logger, lines } = memoryLogger();
      // Act
      const report = await executeRun(
        {
          fleet: builtinFleet(),
          registry: [leaky],
          logger,
          now: () => new Date("2026-11-21T10:00:00Z"),
          notify: { notify: async (r) => void notified.push(r) },
          audit: { record: async (r) => void audited.push(r) },
          clientsFor: () => testClients(),
        },
        { runbook: "leaky", system: "demo", input: { mode }, dryRun: false },
      );
      // Assess
      const everything = JSON.stringify({ report, audited, notified, logs: lines() });
      expect(everything).not.toMatch(/(report|field|summary|thrown)-secret|b\/c@/);
      expect(audited).toHaveLength(1);
      expect(notified).toHaveLength(1);
      expect(report.status).toBe("failed");
      expect(everything).toContain("[redacted]");
    });
  }
});

describe("ARNs", () => {
  it("a Secrets Manager ARN is a name, not a secret: it survives, while a password beside it does not", () => {
    const text =
      '"Resource": ["arn:aws:secretsmanager:af-south-1:111122223333:secret:partpal-ims/rds-??????"] password=hunter2';
    expect(redactText(text)).toBe(
      '"Resource": ["arn:aws:secretsmanager:af-south-1:111122223333:secret:partpal-ims/rds-??????"] password=[redacted]',
    );
  });
});
