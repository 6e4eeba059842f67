import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { drillContinueRunbook } from "../../runbooks/drill-continue/index.js";
import { drillJanitorRunbook } from "../../runbooks/drill-janitor/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { scratchInstanceSystemPrefix } from "../../runbooks/restore-drill/names.js";
import type { AnyRunbook } from "../../runbooks/types.js";
import { drillSchedules } from "../../schedules/drills.js";
import { builtinSystems, parseFleet } from "../../systems/index.js";

/** The rules tests/wiring applies to registered runbooks, applied to the drill runbooks before they are. */
const drillRunbooks: AnyRunbook[] = [restoreDrillRunbook, drillContinueRunbook, drillJanitorRunbook];
const root = join(import.meta.dirname, "..", "..");
const fleet = parseFleet(
  { systems: builtinSystems, schedules: drillSchedules },
  { source: "test", runbooks: drillRunbooks.map((r) => r.name) },
);

type Statement = ReturnType<AnyRunbook["permissions"]>[number];
type FleetSystem = (typeof fleet.systems)[number];

/** Real action names, named resources (no '*'), and RDS deletion only of the system's drill instances. */
function expectScoped(statement: Statement, system: FleetSystem, label: string): void {
  for (const action of statement.actions) expect(action, label).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z]+$/);
  expect(statement.resources.length, label).toBeGreaterThan(0);
  expect(statement.resources, label).not.toContain("*");
  if (statement.actions.includes("rds:DeleteDBInstance")) {
    expect(statement.resources, label).toEqual([
      `arn:aws:rds:${system.account.region}:*:db:${scratchInstanceSystemPrefix(system.id)}*`,
    ]);
  }
}

describe("drill runbooks, as the registry will hold them", () => {
  it("have a description, run with default input, and a page for people", () => {
    for (const runbook of drillRunbooks) {
      expect(runbook.description.length, runbook.name).toBeGreaterThan(20);
      expect(runbook.input.safeParse({}).success, runbook.name).toBe(true);
      const doc = join(root, "runbooks", runbook.name, `${runbook.name}.md`);
      expect(existsSync(doc), doc).toBe(true);
      expect(readFileSync(doc, "utf8")).toMatch(new RegExp(`^# ${runbook.name}\\b`));
    }
  });

  it("declare scoped IAM for every scheduled system: no '*' resource, drill instances only for deletion", () => {
    for (const schedule of fleet.schedules) {
      const runbook = drillRunbooks.find((r) => r.name === schedule.runbook);
      const system = fleet.systems.find((s) => s.id === schedule.system);
      if (!runbook || !system) throw new Error(schedule.id);
      const permissions = runbook.permissions(system);
      expect(permissions.length, schedule.id).toBeGreaterThan(0);
      for (const statement of permissions) expectScoped(statement, system, schedule.id);
    }
  });

  it("RDS systems' drills can restore and delete; pg_dump systems' need no RDS at all", () => {
    const actions = (id: string, runbook: AnyRunbook) => {
      const system = fleet.systems.find((s) => s.id === id);
      if (!system) throw new Error(id);
      return runbook.permissions(system).flatMap((p) => p.actions);
    };
    expect(actions("flash-sale", restoreDrillRunbook)).toContain("rds:RestoreDBInstanceToPointInTime");
    expect(actions("ode", restoreDrillRunbook)).toContain("rds:RestoreDBInstanceFromDBSnapshot");
    expect(actions("flash-sale", drillContinueRunbook)).toContain("rds:DeleteDBInstance");
    expect(actions("partpal-ims", restoreDrillRunbook).filter((a) => a.startsWith("rds:"))).toEqual([]);
    expect(actions("partpal-ims", restoreDrillRunbook)).toContain("s3:GetObject");
  });
});
