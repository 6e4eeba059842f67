import { describe, expect, it } from "vitest";
import { formatAudit, parseAuditRecord } from "../../cli/commands/audit.js";
import { backupRow, formatBackups, formatBytes, plural } from "../../cli/commands/backups.js";
import { chooseBackup } from "../../cli/commands/restore.js";
import { parseTimeOption } from "../../cli/time.js";
import type { CheckedBackup } from "../../runbooks/backup/catalog.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { decideRetention } from "../../runbooks/backup/retention.js";
import { demo } from "../../systems/demo.js";
import { type System, systemSchema } from "../../systems/schema.js";

const system: System = systemSchema.parse(demo);
const now = new Date("2026-12-01T12:00:00Z");

function manifest(key: string, at: Date): Manifest {
  return {
    version: 1,
    system: "demo",
    database: "inventory",
    databaseName: "partpal_demo",
    bucket: "ops-autopilot-demo",
    key,
    bytes: 8_500_000,
    sha256: "a".repeat(64),
    format: "custom",
    compression: 1,
    serverVersion: "15.18",
    pgDumpVersion: "15.18",
    databaseBytes: 40_000_000,
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    durationMs: 1000,
    tables: [],
    encryption: "AES256",
  };
}

function backup(iso: string, verified = true): CheckedBackup {
  const at = new Date(iso);
  const key = `pg_dump/demo/inventory/${iso.slice(0, 10).replace(/-/g, "/")}/${iso.replace(/[-:]/g, "").replace(/\.\d+/, "")}.dump`;
  return {
    key,
    takenAt: at,
    bytes: 8_500_000,
    check: verified
      ? { state: "verified", manifest: manifest(key, at) }
      : { state: "no-manifest", reason: "no manifest" },
  };
}

describe("formatBytes and plural", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [8_500_000, "8.1 MiB"],
    [3 * 1024 ** 3, "3.0 GiB"],
  ])("%d bytes are %s", (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  it("says 1 backup and 2 backups", () => {
    expect([plural(0, "backup"), plural(1, "backup"), plural(2, "backup")]).toEqual([
      "0 backups",
      "1 backup",
      "2 backups",
    ]);
    expect(plural(1, "index", "indexes")).toBe("1 index");
  });
});

describe("the backups listing", () => {
  const backups = [
    backup("2026-11-30T09:00:00Z"),
    backup("2026-12-01T09:00:00Z"),
    backup("2026-12-01T10:00:00Z", false),
  ];
  const decisions = decideRetention(backups, {
    policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 },
    timezone: system.timezone,
    now,
  });

  it("joins each check with the retention slot that keeps it, or why it is not kept", () => {
    const rows = backups.map((b) =>
      backupRow(
        b,
        decisions.find((d) => d.key === b.key),
        system,
      ),
    );
    expect(rows[1]).toMatchObject({ verified: true, kept: true, sha256: "a".repeat(64), pgDumpVersion: "15.18" });
    expect(rows[1]?.keptBy).toEqual([
      "newest verified backup",
      "daily 2026-12-01",
      "weekly 2026-W49",
      "monthly 2026-12",
    ]);
    expect(rows[0]?.keptBy).toEqual(["daily 2026-11-30", "monthly 2026-11"]);
    expect(rows[2]).toMatchObject({ verified: false, state: "no-manifest", reason: "no manifest", kept: true });
    expect(rows[2]?.sha256).toBeUndefined();
    expect(rows[1]?.takenAtLocal).toBe("2026-12-01 11:00 +02:00");
  });

  it("reads as a block per backup with both times, newest first, under 100 columns but for the key", () => {
    const rows = backups
      .map((b) =>
        backupRow(
          b,
          decisions.find((d) => d.key === b.key),
          system,
        ),
      )
      .reverse();
    const text = formatBackups(system, [
      { database: "inventory", databaseName: "partpal_demo", backups: rows, foreign: ["x"] },
    ]);
    expect(text).toContain("inventory (partpal_demo): 3 backups, 2 verified");
    expect(text).toContain("2026-12-01 12:00 +02:00  (2026-12-01 10:00:00 UTC)  8.1 MiB  NOT verified: no manifest");
    expect(text).toContain("    kept by   daily 2026-11-30");
    expect(text).toContain("1 other object in the folder, not backups");
    const lines = text.split("\n").filter((l) => !l.includes("key ") && !l.startsWith("Demo"));
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    expect(text.indexOf("12:00 +02:00")).toBeLessThan(text.indexOf("11:00 +02:00"));
  });
});

describe("chooseBackup", () => {
  const backups = [
    backup("2026-11-29T09:00:00Z"),
    backup("2026-11-30T09:00:00Z"),
    backup("2026-12-01T09:00:00Z", false),
  ];

  it("takes the newest verified backup by default, never an unverified one", () => {
    expect(chooseBackup(backups, {}).takenAt.toISOString()).toBe("2026-11-30T09:00:00.000Z");
  });

  it("takes the newest verified at or before --at", () => {
    expect(chooseBackup(backups, { at: new Date("2026-11-30T08:59:59Z") }).takenAt.toISOString()).toBe(
      "2026-11-29T09:00:00.000Z",
    );
    expect(() => chooseBackup(backups, { at: new Date("2026-11-01T00:00:00Z") })).toThrow(
      "no verified backup was taken at or before 2026-11-01T00:00:00.000Z; the oldest is from 2026-11-29T09:00:00.000Z",
    );
  });

  it("takes --backup by key or file name, and refuses one that is unverified or unknown", () => {
    expect(chooseBackup(backups, { backup: "20261129T090000Z" }).key).toBe(backups[0]?.key);
    expect(chooseBackup(backups, { backup: backups[1]?.key ?? "" }).key).toBe(backups[1]?.key);
    expect(() => chooseBackup(backups, { backup: "20261201T090000Z.dump" })).toThrow(
      "is not verified (no manifest): only verified backups are restored",
    );
    expect(() => chooseBackup(backups, { backup: "nope" })).toThrow('no backup "nope"');
    expect(() => chooseBackup([], {})).toThrow("has no verified backup to restore");
  });
});

describe("parseTimeOption", () => {
  const zone = { timezone: "Africa/Johannesburg", now };
  it.each([
    ["2026-12-01T09:30Z", "2026-12-01T09:30:00.000Z"],
    ["2026-12-01T09:30:00+02:00", "2026-12-01T07:30:00.000Z"],
    ["2026-12-01 11:30", "2026-12-01T09:30:00.000Z"],
    ["2026-12-01T11:30", "2026-12-01T09:30:00.000Z"],
    ["2026-12-01", "2026-11-30T22:00:00.000Z"],
    ["90m", "2026-12-01T10:30:00.000Z"],
    ["7d", "2026-11-24T12:00:00.000Z"],
  ])("%s is %s", (value, iso) => expect(parseTimeOption("at", value, zone).toISOString()).toBe(iso));

  it.each(["yesterday", "2026-02-30", "2026-12-01 25:00", "-3h"])("%s is refused with the forms allowed", (value) =>
    expect(() => parseTimeOption("at", value, zone)).toThrow(/--at ".*" is not a time.*use an ISO time/),
  );
});

describe("audit records", () => {
  const record = [
    JSON.stringify({
      type: "action",
      runbook: "backup",
      system: "demo",
      dryRun: false,
      startedAt: "2026-12-01T09:00:00.000Z",
      resource: "demo/inventory",
      action: "backup",
      status: "done",
    }),
    JSON.stringify({
      type: "summary",
      runbook: "backup",
      system: "demo",
      dryRun: false,
      startedAt: "2026-12-01T09:00:00.000Z",
      finishedAt: "2026-12-01T09:00:05.000Z",
      status: "succeeded",
      summary: "backed up 1 database",
    }),
  ].join("\n");

  it("parse into a run with its actions, and read one line per run in the system's zone", () => {
    const run = parseAuditRecord("audit/demo/2026/12/01/x.jsonl", `${record}\n`);
    expect(run).toMatchObject({
      runbook: "backup",
      status: "succeeded",
      dryRun: false,
      actions: [{ resource: "demo/inventory", action: "backup", status: "done" }],
    });
    expect(run.actions[0]).not.toHaveProperty("type");
    const text = formatAudit(system, [run], "s3://b/audit/demo/");
    expect(text).toBe(
      "Demo (embedded local stack) (demo): 1 run in s3://b/audit/demo/\n\n2026-12-01 11:00 +02:00  backup  succeeded: backed up 1 database\n  done     backup demo/inventory\n",
    );
  });

  it("a record cut short or garbled is an error naming it, not a shorter trail", () => {
    expect(() => parseAuditRecord("k1", record.split("\n")[0] ?? "")).toThrow("audit record k1 has no summary line");
    expect(() => parseAuditRecord("k2", "{not json")).toThrow("audit record k2 line 1 is not JSON");
  });
});
