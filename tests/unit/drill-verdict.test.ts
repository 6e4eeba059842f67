import { describe, expect, it } from "vitest";
import type { CheckResult } from "../../lib/postgres/checks.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { buildDrillRecord, type DrillFacts } from "../../runbooks/restore-drill/outcome.js";
import { formatDuration, formatVerdict, judge, rpoSourceWarning } from "../../runbooks/restore-drill/verdict.js";
import { builtinFleet } from "../../systems/index.js";

const passed: CheckResult = { name: "table count", kind: "tables", status: "passed", expected: "3", actual: "3" };

const facts = (over: Partial<DrillFacts> = {}): DrillFacts => ({
  drillId: "partpal-ims/main/20261121t100000z",
  system: { id: "partpal-ims", dr: { rtoMinutes: 30, rpoMinutes: 1440, drillSource: "pg_dump" } },
  database: "main",
  source: "pg_dump",
  startedAt: new Date("2026-11-21T10:00:00Z"),
  finishedAt: new Date("2026-11-21T10:12:00Z"),
  validatedAt: new Date("2026-11-21T10:11:30Z"),
  recoveryPoint: new Date("2026-11-21T01:00:00Z"),
  recoveryPointUsable: true,
  restoredFrom: {},
  scratch: "drill_partpal_ims_main_20261121t100000z",
  checks: [passed],
  cleanup: { status: "removed" },
  warnings: [],
  ...over,
});

describe("verdicts", () => {
  it("is met at the target and missed one millisecond over, with the margin signed", () => {
    expect(judge({ objective: "RTO", targetMinutes: 30, measuredMs: 30 * 60_000 })).toMatchObject({
      verdict: "met",
      marginMs: 0,
    });
    expect(judge({ objective: "RTO", targetMinutes: 30, measuredMs: 30 * 60_000 + 1 })).toMatchObject({
      verdict: "missed",
      marginMs: -1,
    });
  });

  it("is missed when nothing could be measured", () => {
    const v = judge({ objective: "RPO", targetMinutes: 5, note: "no backup" });
    expect(v.verdict).toBe("missed");
    expect(v.measuredMs).toBeUndefined();
    expect(formatVerdict(v)).toBe("RPO missed: not measured (target 5 min) — no backup");
  });

  it("formats durations and verdicts for one line in Slack", () => {
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(12_300)).toBe("12.3s");
    expect(formatDuration(250_000)).toBe("4m10s");
    expect(formatDuration(7_500_000)).toBe("2h05m");
    expect(formatVerdict(judge({ objective: "RTO", targetMinutes: 30, measuredMs: 250_000 }))).toBe(
      "RTO met: 4m10s of 30 min (margin 25m50s)",
    );
    expect(formatVerdict(judge({ objective: "RPO", targetMinutes: 1440, measuredMs: 26 * 3_600_000 }))).toBe(
      "RPO missed: 26h00m of 24 h (over by 2h00m)",
    );
  });
});

describe("drill records", () => {
  it("judges a passed drill from start to validation, and the RPO from start to the recovery point", () => {
    const record = buildDrillRecord(facts());
    expect(record.outcome).toBe("passed");
    expect(record.rto).toMatchObject({ verdict: "met", measuredMs: 11.5 * 60_000, marginMs: 18.5 * 60_000 });
    expect(record.rpo).toMatchObject({ verdict: "met", measuredMs: 9 * 3_600_000 });
    expect(record.summary).toBe(
      "main (pg_dump): drill passed; RTO met: 11m30s of 30 min (margin 18m30s); RPO met: 9h00m of 24 h (margin 15h00m); 1/1 checks passed; scratch removed",
    );
  });

  it("fails the drill on one failed check and says which, and the RTO is then missed (not recovered)", () => {
    const record = buildDrillRecord(
      facts({
        checks: [
          passed,
          { name: "orders", kind: "custom", status: "failed", expected: "≥ 1 row(s)", actual: "0 row(s)" },
        ],
      }),
    );
    expect(record.outcome).toBe("failed");
    expect(record.rto.verdict).toBe("missed");
    expect(record.summary).toContain("drill FAILED — orders: expected ≥ 1 row(s), got 0 row(s)");
    expect(record.summary).toContain("1/2 checks passed (failed: orders)");
  });

  it("folds a long failure text at a word boundary with an ellipsis, never mid-word", () => {
    const failure = `restore stopped: ${"the drill target server refused the connection again ".repeat(6)}end`;
    const record = buildDrillRecord(facts({ failure }));
    const why = /drill FAILED — (.*?); RTO/.exec(record.summary)?.[1] ?? "";
    expect(why.length).toBeLessThanOrEqual(200);
    expect(why.endsWith("…")).toBe(true);
    // What is shown is whole words of the failure, in order.
    const shown = why.slice(0, -1);
    expect(failure.startsWith(shown)).toBe(true);
    expect(failure.charAt(shown.length)).toBe(" ");
  });

  it("says when the scratch copy could not be removed", () => {
    const record = buildDrillRecord(facts({ cleanup: { status: "failed", reason: "connection refused" } }));
    expect(record.summary).toContain("scratch NOT removed (connection refused; the janitor retries)");
  });
});

describe("RPO 5 min systems", () => {
  const fleet = builtinFleet();

  it("the catalogue drills Flash Sale and IMS 2.0 with point-in-time restore", () => {
    for (const id of ["flash-sale", "ims-2"]) {
      const system = fleet.systems.find((s) => s.id === id);
      expect(system?.dr).toMatchObject({ rpoMinutes: 5, drillSource: "rds-pitr" });
      expect(rpoSourceWarning(system?.dr ?? { rpoMinutes: 0, drillSource: "" })).toBeUndefined();
    }
  });

  it("a pg_dump drill of a 5-minute RPO is called out, in the plan and in every drill summary", () => {
    const flashSale = fleet.systems.find((s) => s.id === "flash-sale");
    if (!flashSale) throw new Error("no flash-sale");
    const misconfigured = { ...flashSale, dr: { ...flashSale.dr, drillSource: "pg_dump" as const } };
    expect(rpoSourceWarning(misconfigured.dr)).toMatch(/RPO target 5 min cannot be met by pg_dump.*rds-pitr/);
    expect(restoreDrillRunbook.planNote?.(misconfigured, {})).toMatch(/rds-pitr/);
    const record = buildDrillRecord(
      facts({
        system: misconfigured,
        warnings: [rpoSourceWarning(misconfigured.dr) ?? ""],
        recoveryPoint: new Date("2026-11-21T09:58:00Z"),
      }),
    );
    // Even when one drill happens to land within 5 minutes of a dump, the summary says it proves nothing.
    expect(record.rpo.verdict).toBe("met");
    expect(record.summary).toMatch(/WARNING: RPO target 5 min cannot be met by pg_dump/);
  });
});
