import { describe, expect, it } from "vitest";
import {
  findDrillOwner,
  formatDrillComment,
  parseDrillComment,
  scratchDatabaseName,
  scratchInstanceId,
  scratchInstanceSystemPrefix,
  startedAtFromName,
} from "../../runbooks/restore-drill/names.js";

const at = new Date("2026-11-21T10:00:00Z");

describe("scratch names", () => {
  it("carry system, database and start time, within PostgreSQL's 63-byte identifier limit", () => {
    expect(scratchDatabaseName("partpal-ims", "main", at)).toMatch(
      /^drill_partpal_ims_main_[0-9a-f]{8}_20261121t100000z$/,
    );
    const long = scratchDatabaseName("a-very-long-system-name-of-forty-chars", "an-equally-long-database-id", at);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^drill_[a-z0-9_]+_20261121t100000z$/);
    expect(startedAtFromName(long)).toEqual(at);
  });

  it("make valid RDS identifiers: ≤ 63, letters/digits/hyphens, no double or trailing hyphen", () => {
    const rdsRule = /^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$/;
    for (const [system, database] of [
      ["flash-sale", "main"],
      ["a-very-long-system-name-of-forty-chars-x", "an-equally-long-database-id"],
      ["x-", "-y-"],
    ] as const) {
      const id = scratchInstanceId(system, database, at);
      expect(id, id).toMatch(rdsRule);
      expect(id.length).toBeLessThanOrEqual(63);
    }
  });

  it("round-trip the COMMENT that lets the janitor judge a database after a crash", () => {
    const comment = {
      drillId: "demo/inventory/20261121t100000z",
      system: "demo",
      database: "inventory",
      startedAt: "2026-11-21T10:00:00.000Z",
      deadline: "2026-11-21T11:35:00.000Z",
    };
    expect(parseDrillComment(formatDrillComment(comment))).toEqual({ opsAutopilot: "restore-drill", ...comment });
    expect(parseDrillComment("a database someone commented")).toBeUndefined();
    expect(parseDrillComment(JSON.stringify({ ...comment, opsAutopilot: "something-else" }))).toBeUndefined();
    expect(parseDrillComment(null)).toBeUndefined();
  });

  it("find the owner of a scratch instance from its identifier, and nothing for other instances", () => {
    const systems = [
      { id: "ims-2", databases: [{ id: "main" }] },
      { id: "flash-sale", databases: [{ id: "main" }, { id: "reporting" }] },
    ];
    expect(findDrillOwner(systems, scratchInstanceId("flash-sale", "main", at))?.system.id).toBe("flash-sale");
    expect(findDrillOwner(systems, scratchInstanceId("flash-sale", "reporting", at))?.database.id).toBe("reporting");
    expect(findDrillOwner(systems, "drill-flash-sale-main-backup")).toBeUndefined();
    expect(findDrillOwner(systems, "flash-sale-db")).toBeUndefined();
  });

  it("differ for systems and databases whose readable parts fold together (ims/2-main vs ims-2/main)", () => {
    expect(scratchDatabaseName("ims", "2-main", at)).not.toBe(scratchDatabaseName("ims-2", "main", at));
    expect(scratchInstanceId("ims", "2-main", at)).not.toBe(scratchInstanceId("ims-2", "main", at));
    // Truncation cannot merge two long database ids of one system either.
    const longA = "a-database-id-that-is-longer-than-the-room-a";
    const longB = "a-database-id-that-is-longer-than-the-room-b";
    expect(scratchDatabaseName("ims", longA, at)).not.toBe(scratchDatabaseName("ims", longB, at));
    expect(scratchInstanceId("ims", longA, at)).not.toBe(scratchInstanceId("ims", longB, at));
    // IAM scopes deletion by the system prefix: ims's must not cover ims-2's instances.
    expect(scratchInstanceId("ims-2", "main", at).startsWith(scratchInstanceSystemPrefix("ims"))).toBe(false);
  });

  it("map an instance to the system that made it, not to a system whose name folds the same", () => {
    const systems = [
      { id: "ims", databases: [{ id: "2-main" }] },
      { id: "ims-2", databases: [{ id: "main" }] },
    ];
    expect(findDrillOwner(systems, scratchInstanceId("ims-2", "main", at))?.system.id).toBe("ims-2");
    expect(findDrillOwner(systems, scratchInstanceId("ims", "2-main", at))?.system.id).toBe("ims");
  });
});
