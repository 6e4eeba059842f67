import { describe, expect, it } from "vitest";
import { ValidationError } from "../../lib/errors.js";
import { builtinFleet, builtinSystems, parseFleet } from "../../systems/index.js";

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error("expected a ValidationError");
}

describe("fleet catalogue", () => {
  it("the built-in catalogue validates and holds the five systems and the demo", () => {
    expect(builtinFleet().systems.map((s) => s.id)).toEqual([
      "partpal-ims",
      "flash-sale",
      "ims-2",
      "ode",
      "ez-tracking",
      "demo",
    ]);
  });

  it("an unknown time zone names the system, the field, the value and what is allowed", () => {
    const systems = clone(builtinSystems) as unknown as { id: string; timezone: string }[];
    const ode = systems.find((s) => s.id === "ode");
    if (ode) ode.timezone = "Mars/Base";
    const issues = issuesOf(() => parseFleet({ systems }, { source: "test.json" }));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('system "ode".timezone');
    expect(issues[0]?.message).toContain("IANA time zone");
    expect(issues[0]?.message).toContain('"Mars/Base"');
  });

  it("reports every problem at once, by system id", () => {
    const systems = clone(builtinSystems) as unknown as Record<string, unknown>[];
    const [first, second] = systems;
    if (!first || !second) throw new Error("fixture");
    first.runtime = { kind: "k8s" };
    (second.dr as Record<string, unknown>).rtoMinutes = -5;
    const issues = issuesOf(() => parseFleet({ systems }, { source: "test.json" }));
    const paths = issues.map((i) => i.path);
    expect(paths).toContain('system "partpal-ims".runtime.kind');
    expect(paths).toContain('system "flash-sale".dr.rtoMinutes');
    expect(issues.find((i) => i.path.endsWith("runtime.kind"))?.message).toMatch(/ecs.*eks.*none/);
  });

  it("rejects duplicate ids, unknown schedule systems and runbooks", () => {
    const systems = clone(builtinSystems).slice(0, 2) as { id: string }[];
    const issues = issuesOf(() =>
      parseFleet(
        {
          systems: [...systems, clone(systems[0])],
          schedules: [
            { system: "nope", runbook: "backup", expression: "cron(0 3 * * ? *)", description: "x" },
            { system: "flash-sale", runbook: "defrost", expression: "cron(0 3 * * ? *)", description: "x" },
          ],
        },
        { source: "t", runbooks: ["backup"] },
      ),
    );
    expect(issues.map((i) => i.message).join("\n")).toMatch(/duplicate system id/);
    expect(issues.find((i) => i.path.endsWith(".system"))?.message).toMatch(
      /unknown system; known systems: partpal-ims, flash-sale/,
    );
    expect(issues.find((i) => i.path.endsWith(".runbook"))?.message).toMatch(/unknown runbook; known runbooks: backup/);
  });

  it("a bad cron in a schedule is caught with the AWS rule it breaks", () => {
    const systems = clone(builtinSystems).slice(0, 1);
    const issues = issuesOf(() =>
      parseFleet(
        {
          systems,
          schedules: [{ system: "partpal-ims", runbook: "backup", expression: "cron(0 3 * * *)", description: "x" }],
        },
        { source: "t" },
      ),
    );
    expect(issues[0]?.path).toBe("schedule #0 (partpal-ims/backup).expression");
    expect(issues[0]?.message).toMatch(/6 fields/);
  });

  it("schedules take the system's time zone unless they name one", () => {
    const fleet = builtinFleet();
    const partpal = fleet.schedules.find((s) => s.system === "partpal-ims" && s.runbook === "backup");
    expect(partpal?.timezone).toBe("Africa/Johannesburg");
    expect(partpal?.id).toBe("partpal-ims-backup");
  });
});

describe("catalogue errors in one round", () => {
  it("a bad time zone and a schedule naming an unknown system and runbook are all reported together", () => {
    const systems = JSON.parse(JSON.stringify(builtinSystems)) as { id: string; timezone: string }[];
    const flash = systems.find((s) => s.id === "flash-sale");
    if (flash) flash.timezone = "Mars/Base";
    const schedules = [
      { system: "nosuch", runbook: "backup", expression: "cron(0 3 * * ? *)", description: "x" },
      { system: "ims-2", runbook: "frobnicate", expression: "cron(0 3 * * ? *)", description: "y" },
    ];
    let error: unknown;
    try {
      parseFleet({ systems, schedules }, { source: "test", runbooks: ["backup", "prune-backups"] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).issues.map((i) => i.path);
    expect(paths).toContain('system "flash-sale".timezone');
    expect(paths).toContain("schedule #0 (nosuch/backup).system");
    expect(paths).toContain("schedule #1 (ims-2/frobnicate).runbook");
  });
});
