import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../lib/logger.js";
import { createConsoleNotifier } from "../../lib/notify.js";
import { redactText, redactValue } from "../../lib/redact.js";
import type { Report } from "../../runbooks/types.js";

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

  it("the console notifier redacts reports", async () => {
    let out = "";
    const stream = new Writable({
      write(chunk, _e, cb) {
        out += String(chunk);
        cb();
      },
    });
    const report: Report = {
      runbook: "backup",
      system: "demo",
      dryRun: false,
      status: "failed",
      startedAt: "",
      finishedAt: "",
      actions: [
        { resource: "demo/inventory", action: "backup", status: "failed", reason: "postgres://a:leak@h/d refused" },
      ],
      metrics: {},
      summary: "failed: postgres://a:leak@h/d",
    };
    await createConsoleNotifier({ stream, format: "json" }).notify(report);
    expect(out).not.toContain("leak");
    expect(JSON.parse(out).summary).toBe("failed: postgres://a:[redacted]@h/d");
  });
});
