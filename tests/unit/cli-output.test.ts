import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { clearingStream, ProgressLine } from "../../cli/io.js";
import { createLogger, humanLogLine } from "../../lib/logger.js";
import { plural } from "../../lib/text.js";

function sink() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d) => {
    text += d;
  });
  return { stream, text: () => text };
}

describe("the progress line", () => {
  it("is cleared before anything else is written, on either stream, and only once", () => {
    const err = sink();
    const out = sink();
    const line = new ProgressLine(err.stream);
    const stdout = clearingStream(out.stream, line);
    const stderr = clearingStream(err.stream, line);
    line.show("dumping demo/inventory: 8.1 MiB");
    stdout.write("[OK] demo backup: backed up 1 database, 8.1 MiB\n");
    stderr.write("warning: something\n");
    expect(err.text()).toBe("\r\x1b[2Kdumping demo/inventory: 8.1 MiB\r\x1b[2Kwarning: something\n");
    expect(out.text()).toBe("[OK] demo backup: backed up 1 database, 8.1 MiB\n");
  });

  it("writes nothing to clear when no progress is showing", () => {
    const err = sink();
    const line = new ProgressLine(err.stream);
    clearingStream(err.stream, line).write("report\n");
    line.clear();
    expect(err.text()).toBe("report\n");
  });
});

describe("log lines", () => {
  it("read as level, message and fields on a terminal", () => {
    const json = JSON.stringify({
      level: "ERROR",
      message: "audit record failed",
      timestamp: "2026-12-01T10:00:00.000Z",
      service: "ops-autopilot",
      sampling_rate: 0,
      runbook: "backup",
      system: "demo",
      error: "AccessDenied",
      metrics: { bytes: 3 },
    });
    expect(humanLogLine(json)).toBe(
      'ERROR audit record failed  runbook=backup  system=demo  error=AccessDenied  metrics={"bytes":3}',
    );
    expect(humanLogLine("not json")).toBe("not json");
    expect(humanLogLine("[1,2]")).toBe("[1,2]");
  });

  it("are JSON records unless asked for text, and text lines when asked", async () => {
    for (const format of ["json", "text"] as const) {
      const out = sink();
      const logger = createLogger({ stream: out.stream, logLevel: "INFO", format });
      logger.info("run started", { requestedBy: "cli" });
      await new Promise((r) => setImmediate(r));
      const line = out.text().trim();
      if (format === "json") expect(JSON.parse(line)).toMatchObject({ level: "INFO", message: "run started" });
      else expect(line).toBe("INFO  run started  requestedBy=cli");
    }
  });
});

describe("plural", () => {
  it.each([
    [0, "system", "0 systems"],
    [1, "system", "1 system"],
    [4, "check", "4 checks"],
    [1, "backup", "1 backup"],
    [2, "backup", "2 backups"],
  ])("%d %s is %s", (n, noun, text) => expect(plural(n, noun)).toBe(text));
});
