import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtinFleet, findSystem } from "../../systems/index.js";

/**
 * The catalogue must say what the guides say. The numbers are read from docs/POLICIES.md (the distilled
 * guides) at test time, so a change on either side that breaks the match fails here.
 */
const policies = readFileSync(join(import.meta.dirname, "..", "..", "docs", "POLICIES.md"), "utf8");
const COLUMNS = ["partpal-ims", "flash-sale", "ims-2", "ode", "ez-tracking"] as const;

function row(label: string): Record<(typeof COLUMNS)[number], string> {
  const line = policies.split("\n").find((l) => l.startsWith(`| ${label} |`));
  if (!line) throw new Error(`POLICIES.md has no row "${label}"`);
  const cells = line
    .split("|")
    .slice(2, 7)
    .map((c) => c.trim());
  return Object.fromEntries(COLUMNS.map((id, i) => [id, cells[i] ?? ""])) as Record<(typeof COLUMNS)[number], string>;
}

function minutes(text: string): number {
  const m = /(\d+)\s*(min|h)/.exec(text);
  if (!m) throw new Error(`no duration in "${text}"`);
  return Number(m[1]) * (m[2] === "h" ? 60 : 1);
}

const fleet = builtinFleet();

describe("the catalogue matches POLICIES.md", () => {
  const dr = row("disaster recovery targets");
  for (const id of COLUMNS) {
    const cell = dr[id];
    const rto = /RTO ([^,]+)/.exec(cell);
    const rpo = /RPO (.+)$/.exec(cell);
    if (!rto || !rpo) continue; // the guide states none: the catalogue documents its default
    it(`${id}: RTO ${rto[1]} and RPO ${rpo[1]}`, () => {
      const system = findSystem(fleet, id);
      expect(system.dr.rtoMinutes).toBe(minutes(rto[1] ?? ""));
      expect(system.dr.rpoMinutes).toBe(minutes(rpo[1] ?? ""));
    });
  }

  it("systems whose guide states no RTO/RPO say which default they use", () => {
    for (const id of COLUMNS.filter((c) => !/RTO/.test(dr[c]))) {
      expect(findSystem(fleet, id).dr.note, id).toMatch(/our defaults/);
    }
  });

  it("RPO of 5 minutes is proved by RDS point-in-time drills, not by daily dumps", () => {
    for (const id of COLUMNS.filter((c) => /RPO 5 min/.test(dr[c]))) {
      expect(findSystem(fleet, id).dr.drillSource, id).toBe("rds-pitr");
    }
  });

  it("off-hours windows and floors", () => {
    const offHours = row("off-hours scale-down");
    const partpal = /scale to (\d+) replica (\d{2}:\d{2})–(\d{2}:\d{2})/.exec(offHours["partpal-ims"]);
    expect(partpal).not.toBeNull();
    expect(findSystem(fleet, "partpal-ims").offHours).toMatchObject({
      enabled: true,
      floor: Number(partpal?.[1]),
      start: partpal?.[2],
      end: partpal?.[3],
    });
    const flashFloor = Number(/floor is (\d+) tasks/.exec(offHours["flash-sale"])?.[1]);
    expect(flashFloor).toBe(10);
    const flash = findSystem(fleet, "flash-sale").offHours;
    // Flash Sale opts out, or keeps its floor: never 1.
    expect(flash.enabled === false || flash.floor >= flashFloor).toBe(true);
    expect(offHours.ode).toMatch(/worker/);
    const ode = findSystem(fleet, "ode").offHours;
    expect(ode.enabled && ode.targets).toEqual(["ode-worker"]);
  });

  it("backup retention", () => {
    const backups = row("logical backups (pg_dump → S3)");
    expect(backups["partpal-ims"]).toMatch(/7-day retention/);
    expect(findSystem(fleet, "partpal-ims").backup?.retention.keepDaily).toBe(7);
    expect(backups["ims-2"]).toMatch(/30-day retention/);
    expect(findSystem(fleet, "ims-2").backup?.retention.keepDaily).toBe(30);
    expect(backups["flash-sale"]).toMatch(/RDS automated 7 days/);
    expect(findSystem(fleet, "flash-sale").backup?.retention.keepDaily).toBe(7);
  });

  it("regions, time zones and databases", () => {
    const region = row("region");
    for (const id of COLUMNS.filter((c) => region[c] !== "—")) {
      expect(findSystem(fleet, id).account.region, id).toBe(region[id]);
    }
    const tz = row("timezone for schedules");
    for (const id of COLUMNS) {
      const zone = /^([A-Za-z_]+\/[A-Za-z_]+|UTC)/.exec(tz[id])?.[1];
      if (zone) expect(findSystem(fleet, id).timezone, id).toBe(zone);
    }
    expect(findSystem(fleet, "flash-sale").databases[0]).toMatchObject({
      engineVersion: "16.1",
      database: "flashsale",
      rdsInstanceId: "flash-sale-db",
    });
    expect(findSystem(fleet, "partpal-ims").databases[0]).toMatchObject({
      engineVersion: "15.4",
      database: "partpal_ims",
    });
    expect(findSystem(fleet, "ode").databases[0]).toMatchObject({ database: "odedb" });
  });
});
