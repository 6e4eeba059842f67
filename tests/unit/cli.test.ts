import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../../cli/main.js";
import { builtinSystems } from "../../systems/index.js";

function capture() {
  let text = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

async function ops(argv: string[], now = new Date("2026-11-21T10:00:00Z")) {
  const out = capture();
  const err = capture();
  const code = await main(argv, { out: out.stream, err: err.stream, env: {}, now: () => now });
  return { code, out: out.text(), err: err.text() };
}

describe("ops CLI", () => {
  it("systems --json lists the fleet with the guides' RTO and RPO", async () => {
    const { code, out } = await ops(["systems", "--json"]);
    expect(code).toBe(0);
    const systems = JSON.parse(out) as { id: string; dr: { rtoMinutes: number; rpoMinutes: number } }[];
    const dr = Object.fromEntries(systems.map((s) => [s.id, [s.dr.rtoMinutes, s.dr.rpoMinutes]]));
    expect(Object.keys(dr)).toEqual(["partpal-ims", "flash-sale", "ims-2", "ode", "ez-tracking", "demo"]);
    expect(dr["partpal-ims"]).toEqual([30, 1440]);
    expect(dr["flash-sale"]).toEqual([30, 5]);
    expect(dr["ims-2"]).toEqual([15, 5]);
  });

  it("systems never prints credentials sources' contents", async () => {
    const { out } = await ops(["systems", "--json"]);
    expect(out).not.toContain("secretId");
    expect(out).toContain('"credentialsFrom": "secrets-manager"');
  });

  it("plan --days 3 lists each run in the system's zone and in UTC", async () => {
    const { code, out } = await ops(["plan", "--days", "3", "--json"]);
    expect(code).toBe(0);
    const runs = JSON.parse(out) as { scheduleId: string; local: string; utc: string; timezone: string }[];
    const partpal = runs.filter((r) => r.scheduleId === "partpal-ims-backup");
    expect(partpal.map((r) => [r.local, r.utc])).toEqual([
      ["2026-11-22 03:00 +02:00", "2026-11-22T01:00:00.000Z"],
      ["2026-11-23 03:00 +02:00", "2026-11-23T01:00:00.000Z"],
      ["2026-11-24 03:00 +02:00", "2026-11-24T01:00:00.000Z"],
    ]);
    // Every schedule of the catalogue appears.
    const ids = new Set(runs.map((r) => r.scheduleId));
    expect(ids.has("ims-2-backup") && ids.has("ode-prune-backups")).toBe(true);
  });

  it("plan shows PartPal's off-hours at 18:00 and 07:00 SAST, without 'not supported'; never Flash Sale", async () => {
    const { out } = await ops(["plan", "--system", "partpal-ims", "--days", "3", "--json"]);
    const runs = JSON.parse(out) as { runbook: string; local: string; utc: string; note?: string }[];
    const down = runs.filter((r) => r.runbook === "scale-down");
    const up = runs.filter((r) => r.runbook === "scale-up");
    expect(down.map((r) => [r.local.slice(11), r.utc.slice(11, 16)])).toEqual(Array(3).fill(["18:00 +02:00", "16:00"]));
    expect(up.map((r) => [r.local.slice(11), r.utc.slice(11, 16)])).toEqual(Array(3).fill(["07:00 +02:00", "05:00"]));
    expect([...down, ...up].every((r) => r.note === undefined)).toBe(true);
    expect(out).not.toContain("not supported");
    const flash = JSON.parse((await ops(["plan", "--system", "flash-sale", "--days", "7", "--json"])).out) as {
      runbook: string;
    }[];
    expect(flash.filter((r) => r.runbook.startsWith("scale"))).toEqual([]);
  });

  it("plan follows a DST change with a fixed clock (New York, November)", async () => {
    const { out } = await ops(["plan", "--system", "ode", "--days", "3", "--json"], new Date("2026-10-31T12:00:00Z"));
    const backups = (JSON.parse(out) as { scheduleId: string; local: string; utc: string }[]).filter(
      (r) => r.scheduleId === "ode-backup",
    );
    expect(backups.map((r) => [r.local, r.utc])).toEqual([
      ["2026-11-01 03:00 -05:00", "2026-11-01T08:00:00.000Z"], // after the 02:00 fall-back: EST
      ["2026-11-02 03:00 -05:00", "2026-11-02T08:00:00.000Z"],
      ["2026-11-03 03:00 -05:00", "2026-11-03T08:00:00.000Z"],
    ]);
    const before = await ops(["plan", "--system", "ode", "--days", "1", "--json"], new Date("2026-10-30T12:00:00Z"));
    const first = (JSON.parse(before.out) as { scheduleId: string; utc: string }[]).find(
      (r) => r.scheduleId === "ode-backup",
    );
    expect(first?.utc).toBe("2026-10-31T07:00:00.000Z"); // still EDT
  });

  it("a fleet file with an invalid time zone exits 2 naming the system and the field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-cli-"));
    const systems = JSON.parse(JSON.stringify(builtinSystems)) as { id: string; timezone: string }[];
    const target = systems.find((s) => s.id === "flash-sale");
    if (target) target.timezone = "Mars/Base";
    await writeFile(join(dir, "bad.json"), JSON.stringify({ systems }));
    const { code, err, out } = await ops(["systems", "--fleet", join(dir, "bad.json")]);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toContain('system "flash-sale".timezone');
    expect(err).toContain("Mars/Base");
  });

  it("a fleet file that is not JSON exits 2 and says so", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ops-cli-"));
    await writeFile(join(dir, "x.json"), "{ systems: ");
    const { code, err } = await ops(["systems", "--fleet", join(dir, "x.json")]);
    expect(code).toBe(2);
    expect(err).toMatch(/is not valid JSON/);
  });

  it("unknown runbook and unknown system exit 2 and list what exists", async () => {
    const runbook = await ops(["run", "no-such-runbook", "--system", "demo"]);
    expect(runbook.code).toBe(2);
    expect(runbook.err).toMatch(/unknown runbook "no-such-runbook"; known runbooks: .*backup.*prune-backups/);
    const system = await ops(["run", "backup", "--system", "nope"]);
    expect(system.code).toBe(2);
    expect(system.err).toMatch(
      /unknown system "nope"; known systems: partpal-ims, flash-sale, ims-2, ode, ez-tracking, demo/,
    );
  });

  it("bad runbook input exits 2 naming the key and what it accepts", async () => {
    const { code, err } = await ops(["run", "backup", "--system", "demo", "--dry-run", "compression=12"]);
    expect(code).toBe(2);
    expect(err).toMatch(/compression/);
    expect(err).toMatch(/9/);
    const unknown = await ops(["run", "backup", "--system", "demo", "color=blue"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/color/);
  });

  it("usage errors exit 2", async () => {
    expect((await ops([])).code).toBe(2);
    expect((await ops(["frobnicate"])).err).toMatch(/unknown command "frobnicate"/);
    expect((await ops(["plan", "--days", "0"])).code).toBe(2);
    expect((await ops(["systems", "--colour"])).code).toBe(2);
    expect((await ops(["run", "backup"])).err).toMatch(/needs --system/);
    expect((await ops(["run", "backup", "--system", "demo", "bare-word"])).err).toMatch(/key=value/);
    expect((await ops(["--help"])).code).toBe(0);
  });

  it("runbooks --json lists the registry with descriptions and destructiveness", async () => {
    const { out } = await ops(["runbooks", "--json"]);
    const list = JSON.parse(out) as { name: string; destructive: boolean; description: string }[];
    expect(list.find((r) => r.name === "prune-backups")?.destructive).toBe(true);
    expect(list.find((r) => r.name === "backup")?.destructive).toBe(false);
    expect(list.every((r) => r.description.length > 10)).toBe(true);
  });
});
