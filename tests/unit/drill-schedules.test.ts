import { describe, expect, it } from "vitest";
import { nextRuns, parseScheduleExpression } from "../../lib/cron.js";
import { drillJanitorRunbook } from "../../runbooks/drill-janitor/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { drillSchedules } from "../../schedules/drills.js";
import { builtinSystems, parseFleet } from "../../systems/index.js";

const fleet = parseFleet(
  { systems: builtinSystems, schedules: drillSchedules },
  { source: "test", runbooks: ["backup", "prune-backups", restoreDrillRunbook.name, drillJanitorRunbook.name] },
);

const runsIn = (id: string, days: number) => {
  const schedule = fleet.schedules.find((s) => s.id === id);
  if (!schedule) throw new Error(`no schedule ${id}`);
  const after = new Date("2026-11-01T00:00:00Z");
  return nextRuns(parseScheduleExpression(schedule.expression), {
    timezone: schedule.timezone,
    after,
    until: new Date(after.getTime() + days * 86_400_000),
  });
};

describe("drill schedules", () => {
  it("validate against the catalogue (known systems and runbooks, valid crons, unique ids)", () => {
    expect(fleet.schedules).toHaveLength(drillSchedules.length);
  });

  it("drill PartPal IMS monthly (its guide) and every other system with databases weekly", () => {
    expect(runsIn("partpal-ims-restore-drill", 92)).toHaveLength(3);
    for (const system of fleet.systems.filter(
      (s) => s.databases.length > 0 && s.id !== "demo" && s.id !== "partpal-ims",
    )) {
      const runs = runsIn(`${system.id}-restore-drill`, 28);
      expect(runs, system.id).toHaveLength(4);
    }
  });

  it("runs the janitor hourly for every drilled system", () => {
    const drilled = fleet.schedules.filter((s) => s.runbook === "restore-drill").map((s) => s.system);
    const swept = fleet.schedules.filter((s) => s.runbook === "drill-janitor").map((s) => s.system);
    expect(swept.sort()).toEqual(drilled.sort());
    expect(runsIn("flash-sale-drill-janitor", 1)).toHaveLength(24);
  });

  it("drills after the nightly backup window, in the system's own morning", () => {
    const [first] = runsIn("partpal-ims-restore-drill", 31);
    // First Sunday of November 2026, 04:30 SAST = 02:30 UTC.
    expect(first?.toISOString()).toBe("2026-11-01T02:30:00.000Z");
  });
});
