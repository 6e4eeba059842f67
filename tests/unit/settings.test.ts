import { describe, expect, it } from "vitest";
import { ValidationError } from "../../lib/errors.js";
import { createPorts } from "../../lib/ports.js";
import { parseSettings } from "../../lib/settings.js";
import { testClients } from "../helpers/context.js";

describe("settings: one schema for Lambda and CLI", () => {
  it.each([
    ["1", true],
    ["true", true],
    ["YES", true],
    ["0", false],
    ["false", false],
    ["no", false],
  ])("a boolean setting %s parses to %s for every boolean", (text, value) => {
    const settings = parseSettings({ OPS_DRY_RUN: text, OPS_S3_FORCE_PATH_STYLE: text });
    expect(settings.dryRun).toBe(value);
    expect(settings.s3ForcePathStyle).toBe(value);
  });

  it("an empty variable is an unset one", () => {
    const settings = parseSettings({ OPS_REPORT_TO: "", OPS_DRY_RUN: "", OPS_DEADLINE_MARGIN_MS: "" });
    expect(settings.reportTo).toBeUndefined();
    expect(settings.dryRun).toBe(false);
    expect(settings.deadlineMarginMs).toBe(30_000);
  });

  it("a bad value names the variable and what it allows", () => {
    let thrown: unknown;
    try {
      parseSettings({ OPS_S3_FORCE_PATH_STYLE: "maybe", OPS_DEADLINE_MARGIN_MS: "10" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    const issues = (thrown as ValidationError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(["OPS_DEADLINE_MARGIN_MS", "OPS_S3_FORCE_PATH_STYLE"]);
    expect(issues.find((i) => i.path === "OPS_S3_FORCE_PATH_STYLE")?.message).toMatch(/true or false/);
  });

  it("the stage is a stage name or nothing: a bad one is refused, naming the variable", () => {
    expect(parseSettings({ OPS_STAGE: "staging-2" }).stage).toBe("staging-2");
    expect(parseSettings({}).stage).toBeUndefined();
    expect(() => parseSettings({ OPS_STAGE: "prod*" })).toThrow(ValidationError);
    try {
      parseSettings({ OPS_STAGE: "prod*" });
    } catch (error) {
      expect((error as ValidationError).issues).toEqual([
        { path: "OPS_STAGE", message: "must be a stage name: letters, digits and hyphens" },
      ]);
    }
  });

  it("lists, the handed claim and the task are parsed once into typed fields", () => {
    const settings = parseSettings({
      OPS_PG_BIN_DIRS: "/opt/pg16/bin: /opt/pg14/bin:",
      OPS_SYSTEMS: "a, b",
      OPS_CLAIM_KEY: "claims/x.json",
      OPS_CLAIM_HOLDER: "h1",
      OPS_BACKUP_TASK_CLUSTER: "c",
      TMPDIR: "/scratch",
    });
    expect(settings.pgBinDirs).toEqual(["/opt/pg16/bin", "/opt/pg14/bin"]);
    expect(settings.pin).toEqual({ systems: ["a", "b"] });
    expect(settings.handedClaim).toEqual({ key: "claims/x.json", holder: "h1" });
    expect(settings.task).toEqual({ cluster: "c" });
    expect(settings.tempDir).toBe("/scratch");
    // Half a claim is no claim: a run never takes over a claim it was not fully handed.
    expect(parseSettings({ OPS_CLAIM_KEY: "claims/x.json" }).handedClaim).toBeUndefined();
  });

  it("the ports use the parsed settings: the temp root and a fresh private directory", async () => {
    const { mkdtemp, rm, stat } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const root = await mkdtemp(`${tmpdir()}/ops-settings-`);
    try {
      const ports = createPorts({ env: { TMPDIR: root }, secrets: testClients().secrets });
      expect(ports.tempDir.root).toBe(root);
      const dir = await ports.tempDir.create("drill-");
      expect(dir.path.startsWith(`${root}/drill-`)).toBe(true);
      expect((await stat(dir.path)).mode & 0o777).toBe(0o700);
      await dir.remove();
      await expect(stat(dir.path)).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
