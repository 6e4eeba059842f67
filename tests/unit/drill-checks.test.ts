import { describe, expect, it } from "vitest";
import { compareRows, evaluateExpectation } from "../../lib/postgres/checks.js";
import { drillContinueRunbook } from "../../runbooks/drill-continue/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { chooseRestoreMode, DOWNLOAD_MODE_MIN_BYTES } from "../../runbooks/restore-drill/plan.js";
import { drillCatalogueSchema, resolveDrillSettings } from "../../runbooks/restore-drill/settings.js";
import { builtinFleet } from "../../systems/index.js";

const result = (rows: Record<string, unknown>[], column = "n") => ({ rows, fields: [{ name: column }] });

describe("custom check expectations", () => {
  it("equals compares numbers numerically (PostgreSQL returns bigint as text) and strings exactly", () => {
    expect(evaluateExpectation({ equals: 0 }, result([{ n: "0" }])).status).toBe("passed");
    // Failed, with the row count and no value: a check's result may be a customer's data.
    const failed = evaluateExpectation({ equals: 0 }, result([{ n: "secret-3" }]));
    expect(failed).toEqual({ status: "failed", reason: "the first column of the first row is not = 0", rows: 1 });
    expect(JSON.stringify(evaluateExpectation({ min: 5 }, result([{ n: "3" }])))).not.toContain('"3"');
    expect(evaluateExpectation({ equals: "ok" }, result([{ n: "ok" }])).status).toBe("passed");
    expect(evaluateExpectation({ equals: true }, result([{ n: true }])).status).toBe("passed");
    expect(evaluateExpectation({ equals: null }, result([{ n: null }])).status).toBe("passed");
    expect(evaluateExpectation({ equals: null }, result([{ n: 0 }])).status).toBe("failed");
  });

  it("min/max bound a numeric first column; a non-number fails", () => {
    expect(evaluateExpectation({ min: 1 }, result([{ n: "12" }])).status).toBe("passed");
    expect(evaluateExpectation({ min: 1, max: 10 }, result([{ n: "12" }])).status).toBe("failed");
    expect(evaluateExpectation({ max: 10 }, result([{ n: "abc" }])).reason).toMatch(/not a number/);
  });

  it("rows and minRows count the rows; no rows fails a value expectation", () => {
    expect(evaluateExpectation({ rows: 2 }, result([{}, {}])).status).toBe("passed");
    expect(evaluateExpectation({ minRows: 1 }, result([]))).toMatchObject({ status: "failed", actual: "0 rows" });
    expect(evaluateExpectation({ equals: 1 }, result([]))).toMatchObject({
      status: "failed",
      reason: "the query returned no rows",
    });
  });

  it("checks are not runbook input: an event or CLI input naming them gets the clear unknown-key error", () => {
    const check = '[{"name":"orders","sql":"select count(*) from orders","expect":{"min":1}}]';
    for (const checks of [check, JSON.parse(check)]) {
      const parsed = restoreDrillRunbook.input.safeParse({ checks });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(
        /^unknown key "checks"; allowed: database, .*; SQL checks are not runbook input: they come from the catalogue only \(dr\.drill\.checks\)$/,
      );
    }
    // drill-continue's input is an RDS event's detail: loose for RDS's own fields, never for checks.
    const detail = drillContinueRunbook.input.safeParse({ SourceType: "DB_INSTANCE", checks: JSON.parse(check) });
    expect(detail.success).toBe(false);
    expect(detail.error?.issues[0]?.message).toMatch(/unknown key "checks".*dr\.drill\.checks/);
    expect(drillContinueRunbook.input.safeParse({ SourceType: "DB_INSTANCE", NewField: 1 }).success).toBe(true);
  });
});

describe("row counts", () => {
  const table = { schema: "public", name: "parts", rows: 10_000, exact: false };

  it("compares estimates within the tolerance and exact counts exactly", () => {
    expect(compareRows(10_900, table, 10).status).toBe("passed");
    expect(compareRows(8_000, table, 10)).toMatchObject({ status: "failed" });
    expect(compareRows(0, table, 10).status).toBe("failed");
    expect(compareRows(10_000, { ...table, exact: true }, 10).status).toBe("passed");
    expect(compareRows(10_001, { ...table, exact: true }, 10).status).toBe("failed");
  });

  it("does not compare against an estimate of 0 (never analysed): skipped, not passed", () => {
    expect(compareRows(500, { ...table, rows: 0 }, 10).status).toBe("skipped");
  });
});

describe("drill settings", () => {
  const fleet = builtinFleet();
  const system = (id: string) => {
    const s = fleet.systems.find((x) => x.id === id);
    if (!s) throw new Error(id);
    return s;
  };

  it("defaults: small class, source placement, deadline max(3 × RTO, 60 min), RDS at least 3 h", () => {
    const pg = resolveDrillSettings(system("partpal-ims"), {});
    expect(pg).toMatchObject({
      instanceClass: "db.t4g.small",
      deadlineMinutes: 90,
      rowTolerancePercent: 10,
      tableLimit: 10,
    });
    expect(resolveDrillSettings(system("ims-2"), {}).deadlineMinutes).toBe(180);
    expect(resolveDrillSettings(system("ez-tracking"), {}).deadlineMinutes).toBe(180);
  });

  it("input overrides; a catalogue `dr.drill` section is read once the schema has it", () => {
    const base = system("flash-sale");
    const withCatalogue = {
      ...base,
      dr: {
        ...base.dr,
        drill: drillCatalogueSchema.parse({
          subnetGroup: "drills",
          securityGroupIds: ["sg-0123456789abcdef0"],
          checks: [{ name: "orders", sql: "select 1", expect: { rows: 1 } }],
        }),
      },
    };
    const settings = resolveDrillSettings(withCatalogue, { instanceClass: "db.t4g.micro" });
    expect(settings.allowSourceServer).toBe(false);
    expect(settings).toMatchObject({
      instanceClass: "db.t4g.micro",
      subnetGroup: "drills",
      securityGroupIds: ["sg-0123456789abcdef0"],
    });
    expect(settings.checks.map((c) => c.name)).toEqual(["orders"]);
  });

  it("ops plan says when a pg_dump system has no drill target (the drill would fail, never use production)", () => {
    expect(restoreDrillRunbook.planNote?.(system("partpal-ims"), {})).toMatch(/no drill target: set dr\.drill\.target/);
    expect(restoreDrillRunbook.planNote?.(system("demo"), {}) ?? "").not.toMatch(/drill target/);
  });

  it("streams small dumps and downloads large ones for a parallel pg_restore, when there is room", () => {
    const auto = { setting: "auto" as const, jobs: 4 };
    expect(chooseRestoreMode({ ...auto, bytes: 1 << 20 })).toBe("stream");
    expect(chooseRestoreMode({ ...auto, bytes: DOWNLOAD_MODE_MIN_BYTES })).toBe("download");
    expect(chooseRestoreMode({ ...auto, bytes: DOWNLOAD_MODE_MIN_BYTES, jobs: 1 })).toBe("stream");
    // Lambda's default 512 MB /tmp cannot hold a 1 GB dump: stream it.
    expect(chooseRestoreMode({ ...auto, bytes: 1 << 30, freeBytes: 512 << 20 })).toBe("stream");
    expect(chooseRestoreMode({ ...auto, bytes: 1 << 30, freeBytes: 10 * (1 << 30) })).toBe("download");
    expect(chooseRestoreMode({ setting: "stream", bytes: 10 << 30, jobs: 8 })).toBe("stream");
  });
});
