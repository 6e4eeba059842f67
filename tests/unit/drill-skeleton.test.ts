import { describe, expect, it } from "vitest";
import { UnknownDatabaseError } from "../../runbooks/databases.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";

// The runbook skeleton of restore-drill: databases from input, stop between them on abort.

const demo = findSystem(builtinFleet(), "demo");
// Two databases and no backup section: each drill is a skip that touches nothing outside the process.
const { backup: _, ...withoutBackup } = demo;
const system = {
  ...withoutBackup,
  databases: [demo.databases[0], { ...demo.databases[0], id: "second" }],
} as System;

describe("restore-drill skeleton", () => {
  it("an unknown database= is the shared UnknownDatabaseError, before anything runs", async () => {
    const ctx = testContext({ system });
    await expect(restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({ database: "typo" }))).rejects.toThrow(
      UnknownDatabaseError,
    );
    expect(() => restoreDrillRunbook.validate?.(system, restoreDrillRunbook.input.parse({ database: "typo" }))).toThrow(
      `system "demo": unknown database "typo" for a pg_dump drill; known databases: ${demo.databases[0]?.id}, second`,
    );
  });

  it("drills every database, one line each; database= narrows to one", async () => {
    const all = await restoreDrillRunbook.run(testContext({ system }), restoreDrillRunbook.input.parse({}));
    expect(all.actions.map((a) => a.resource)).toEqual([`demo/${demo.databases[0]?.id}`, "demo/second"]);
    expect(all.actions.every((a) => a.reason === "no backup section in the catalogue")).toBe(true);
    const one = await restoreDrillRunbook.run(
      testContext({ system }),
      restoreDrillRunbook.input.parse({ database: "second" }),
    );
    expect(one.actions.map((a) => a.resource)).toEqual(["demo/second"]);
  });

  it("aborted before the deadline: stops between databases and reports partial", async () => {
    const controller = new AbortController();
    controller.abort();
    const report = await restoreDrillRunbook.run(
      testContext({ system, signal: controller.signal }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status).toBe("partial");
    expect(report.actions).toEqual([
      expect.objectContaining({
        action: "stop",
        reason: "stopped before the deadline; remaining databases not drilled",
      }),
    ]);
  });
});
