import { spawnSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { runCommand } from "../../cli/commands/run.js";
import { table } from "../../cli/io.js";
import { main } from "../../cli/main.js";
import { ReportBuilder } from "../../runbooks/report.js";
import type { AnyRunbook } from "../../runbooks/types.js";
import { builtinFleet, builtinSystems } from "../../systems/index.js";
import { memoryLogger } from "../helpers/context.js";
import { capture, tempDirs } from "../helpers/files.js";

const tempDir = tempDirs("ops-cli-");

async function ops(argv: string[], now = new Date("2026-11-21T10:00:00Z"), env: Record<string, string> = {}) {
  const out = capture();
  const err = capture();
  const code = await main(argv, { out: out.stream, err: err.stream, env, now: () => now });
  return { code, out: out.text(), err: err.text() };
}

/** A fleet file holding the demo system with a second database, `archive`. */
async function twoDatabaseFleet(): Promise<string> {
  const dir = await tempDir();
  const demo = JSON.parse(JSON.stringify(builtinSystems.find((s) => s.id === "demo"))) as {
    databases: { id: string; database: string }[];
  };
  const first = demo.databases[0];
  if (!first) throw new Error("fixture");
  demo.databases.push({ ...first, id: "archive", database: "partpal_archive" });
  await writeFile(join(dir, "fleet.json"), JSON.stringify({ systems: [demo] }));
  return join(dir, "fleet.json");
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

  it("systems says which guide alarms are not deployed and why", async () => {
    const { out } = await ops(["systems"]);
    expect(out).toMatch(/alarms not deployed/);
    expect(out).toMatch(/ez-tracking-latency-critical: no loadBalancers\[\]/);
    const json = JSON.parse((await ops(["systems", "--json"])).out) as {
      id: string;
      deployedAlarms: string[];
      alarmsNotDeployed: { id: string; reason: string }[];
    }[];
    const ez = json.find((s) => s.id === "ez-tracking");
    expect(ez?.deployedAlarms).toContain("ez-tracking-cpu-critical-backend");
    expect(ez?.alarmsNotDeployed.map((u) => u.id)).toContain("ez-tracking-db-connections-warning");
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
    const dir = await tempDir();
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
    const dir = await tempDir();
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

  it("ops run --json prints the report redacted (PGPASSWORD=…, a `/` in a URL's password)", async () => {
    // The backup quotes the unknown database name it was given: the report must not carry the secret.
    for (const value of ["PGPASSWORD=hunter2", "postgres://u:hun/ter2@h/x"]) {
      const { code, out, err } = await ops([
        "run",
        "backup",
        "--system",
        "demo",
        "--dry-run",
        "--json",
        `database=${value}`,
      ]);
      // Refused with the input (exit 2), and the message that quotes it passes the redactor too.
      expect(code).toBe(2);
      expect(out).toBe("");
      expect(err).toMatch(/unknown database ".*\[redacted\].*"/);
      expect(out + err).not.toMatch(/hunter2|hun\/ter2/);
    }
  });

  it("a password in --database-url is warned about and never printed", async () => {
    const { err, out } = await ops([
      "run",
      "backup",
      "--system",
      "demo",
      "--dry-run",
      "--database-url",
      "postgres://me:hunter2@127.0.0.1:1/partpal_demo?sslmode=disable",
    ]);
    expect(err).toMatch(
      /warning: --database-url carries a password, which other users .* set PGPASSWORD or a ~\/\.pgpass line/,
    );
    expect(out + err).not.toContain("hunter2");
    const quiet = await ops(
      [
        "run",
        "backup",
        "--system",
        "demo",
        "--dry-run",
        "--database-url",
        "postgres://me@127.0.0.1:1/partpal_demo?sslmode=disable",
      ],
      undefined,
      { PGPASSWORD: "hunter2" },
    );
    expect(quiet.err).not.toMatch(/warning: --database-url/);
  });

  it("--database-url replaces one database: a system with several needs database=<id>", async () => {
    const fleet = await twoDatabaseFleet();
    const url = "postgres://me@127.0.0.1:1/x?sslmode=disable";
    const bare = await ops(["run", "backup", "--system", "demo", "--fleet", fleet, "--dry-run", "--database-url", url]);
    expect(bare.code).toBe(2);
    expect(bare.err).toMatch(
      /--database-url replaces one database: system "demo" has several \(inventory, archive\); name it with database=<id>/,
    );
    const typo = await ops([
      "run",
      "backup",
      "--system",
      "demo",
      "--fleet",
      fleet,
      "--dry-run",
      "--database-url",
      url,
      "database=typo",
    ]);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/system "demo": unknown database "typo"; known databases: inventory, archive/);
  });

  it("OPS_DATABASE_URL from the environment must name its database; otherwise nothing runs", async () => {
    const env = { OPS_DATABASE_URL: "postgres://me@127.0.0.1:1/x?sslmode=disable" };
    const { code, err, out } = await ops(["run", "backup", "--system", "demo", "--dry-run"], undefined, env);
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toMatch(
      /OPS_DATABASE_URL replaces one database and must name it: set OPS_DATABASE_ID=<system>\/<database> \(for this run: demo\/inventory\)/,
    );
    const other = await ops(["run", "backup", "--system", "demo", "--dry-run"], undefined, {
      ...env,
      OPS_DATABASE_ID: "partpal-ims/main",
    });
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/names system "partpal-ims" but this run is for "demo"/);
  });

  it("runbooks --json lists the registry with descriptions and destructiveness", async () => {
    const { out } = await ops(["runbooks", "--json"]);
    const list = JSON.parse(out) as { name: string; destructive: boolean; description: string }[];
    expect(list.find((r) => r.name === "prune-backups")?.destructive).toBe(true);
    expect(list.find((r) => r.name === "backup")?.destructive).toBe(false);
    expect(list.every((r) => r.description.length > 10)).toBe(true);
  });
});

describe("ops help and errors", () => {
  it("ops help, ops <command> --help and --version answer on stdout with exit 0", async () => {
    const help = await ops(["help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("ops drill-history --system S");
    const plan = await ops(["plan", "--help"]);
    expect(plan.code).toBe(0);
    expect(plan.out).toMatch(/--days N\s+how many days ahead, 1 to 366/);
    expect((await ops(["help", "plan"])).out).toBe(plan.out);
    const version = await ops(["--version"]);
    expect(version.out).toMatch(/^ops-autopilot \d+\.\d+\.\d+\n$/);
  });

  it("ops run <runbook> --help lists the runbook's inputs from its schema, with ranges and defaults", async () => {
    const { code, out } = await ops(["run", "backup", "--help"]);
    expect(code).toBe(0);
    expect(out).toMatch(/minIntervalMinutes=<integer 0–10080>\s+.*default 60/);
    expect(out).toMatch(/compression=<integer 0–9>/);
    expect(out).toContain("database=<string>");
    expect((await ops(["run", "nope", "--help"])).err).toMatch(/unknown runbook "nope"; known runbooks: backup/);
  });

  it("an unknown option lists the command's options and suggests the closest", async () => {
    const { code, err } = await ops(["run", "backup", "--system", "demo", "--dryrun"]);
    expect(code).toBe(2);
    expect(err).toContain('unknown option "--dryrun" for `ops run`; did you mean --dry-run?');
    expect(err).toContain("(options: --system, --dry-run, --json, --fleet, --database-url, --verbose, --help)");
    const plan = await ops(["plan", "--colour"]);
    expect(plan.err).toMatch(/unknown option "--colour" for `ops plan` \(options: --system, --days/);
  });

  it("a negative number gets the range message, not 'ambiguous'", async () => {
    const { code, err } = await ops(["plan", "--days", "-3"]);
    expect(code).toBe(2);
    expect(err).toContain('--days must be a whole number from 1 to 366 (got "-3")');
    expect((await ops(["drill-history", "--system", "demo", "--limit", "-1"])).err).toContain(
      '--limit must be a whole number from 1 to 10000 (got "-1")',
    );
  });

  it("stray arguments, a flag given a value, a missing value and a typo'd command are errors that exit 2", async () => {
    const stray = await ops(["systems", "extra"]);
    expect([stray.code, stray.err]).toEqual([
      2,
      expect.stringContaining('`ops systems` takes no arguments; unexpected: "extra"'),
    ]);
    expect((await ops(["systems", "--json=yes"])).err).toContain('option --json takes no value (got "--json=yes")');
    expect((await ops(["plan", "--days"])).err).toContain("option --days needs a value: --days N");
    const typo = await ops(["plna"]);
    expect([typo.code, typo.err]).toEqual([2, expect.stringContaining('unknown command "plna"; did you mean "plan"?')]);
  });

  it("an unknown runbook input lists the allowed keys", async () => {
    const { code, err } = await ops(["run", "backup", "--system", "demo", "colour=blue"]);
    expect(code).toBe(2);
    expect(err).toContain('Unrecognized key: "colour"; allowed: database, force, minIntervalMinutes, compression');
  });

  it("drill-history --database with a database the system does not have exits 2 listing its databases", async () => {
    const { code, err } = await ops(["drill-history", "--system", "demo", "--database", "nosuch"]);
    expect(code).toBe(2);
    expect(err).toContain('unknown database "nosuch"; known databases: inventory');
  });
});

describe("the ops executable", () => {
  it("runs as a child process: --version and --help exit 0, a typo exits 2 with the suggestion", () => {
    const bin = new URL("../../bin/ops.js", import.meta.url).pathname;
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
    const version = run("--version");
    expect([version.status, version.stdout]).toEqual([0, expect.stringMatching(/^ops-autopilot \d+\.\d+\.\d+\n$/)]);
    const help = run("--help");
    expect([help.status, help.stdout]).toEqual([0, expect.stringContaining("ops help [command]")]);
    const typo = run("run", "backup", "--system", "demo", "--dryrun");
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain("did you mean --dry-run?");
  });
});

describe("ops fleet export", () => {
  it("writes a file that --fleet reads back to the same systems and schedules", async () => {
    const dir = await tempDir();
    try {
      const file = join(dir, "fleet.json");
      expect((await ops(["fleet", "export", "--out", file])).code).toBe(0);
      const exported = await ops(["systems", "--json"]);
      const fed = await ops(["systems", "--json", "--fleet", file]);
      expect(fed.code, fed.err).toBe(0);
      expect(fed.out).toBe(exported.out);
      const plan = await ops(["plan", "--json", "--days", "2"]);
      const fedPlan = await ops(["plan", "--json", "--days", "2", "--fleet", file]);
      expect(fedPlan.out).toBe(plan.out);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("--system exports one system with its schedules only; the example file is valid", async () => {
    const { out } = await ops(["fleet", "export", "--system", "ims-2"]);
    const one = JSON.parse(out) as { systems: { id: string }[]; schedules: { system: string }[] };
    expect(one.systems.map((s) => s.id)).toEqual(["ims-2"]);
    expect(one.schedules.length).toBeGreaterThan(0);
    expect(one.schedules.every((s) => s.system === "ims-2")).toBe(true);
    const example = new URL("../../examples/fleet.json", import.meta.url).pathname;
    const planned = await ops(["plan", "--json", "--fleet", example]);
    expect(planned.code, planned.err).toBe(0);
    expect((JSON.parse(planned.out) as unknown[]).length).toBeGreaterThan(0);
  });
});

describe("database= naming no database", () => {
  it("exits 2 before anything runs, with the same words for backup, prune-backups and restore-drill", async () => {
    for (const runbook of ["backup", "prune-backups", "restore-drill"]) {
      const { code, err } = await ops(["run", runbook, "--system", "partpal-ims", "database=typo"]);
      expect([runbook, code]).toEqual([runbook, 2]);
      expect(err).toContain('system "partpal-ims": unknown database "typo"');
      expect(err).toContain("known databases: main");
    }
  });
});

describe("ops run --json output", () => {
  it("prints the report with every secret a runbook put in it redacted", async () => {
    // A runbook whose report quotes what it was given: the runner (the one redaction boundary) scrubs it.
    const leaky: AnyRunbook = {
      name: "leaky",
      description: "echoes its input into the report",
      destructive: false,
      input: z.strictObject({ note: z.string() }),
      permissions: () => [],
      async run(ctx, input: { note: string }) {
        const report = new ReportBuilder(ctx, "leaky");
        report.add({ resource: "x", action: "echo", status: "done", reason: input.note });
        return report.finish({ summary: `said ${input.note}` });
      },
    };
    const out = capture();
    const err = capture();
    const code = await runCommand(
      { out: out.stream, err: err.stream, env: {}, now: () => new Date("2026-11-21T10:00:00Z") },
      { fleet: builtinFleet(), registry: [leaky], logger: memoryLogger().logger },
      {
        runbook: "leaky",
        system: "partpal-ims",
        dryRun: true,
        json: true,
        pairs: ["note=PGPASSWORD=hunter2 and postgres://u:hun/ter2@db.example/x"],
      },
    );
    expect(code).toBe(0);
    const report = JSON.parse(out.text()) as { summary: string; actions: { reason: string }[] };
    expect(report.actions[0]?.reason).toBe("PGPASSWORD=[redacted] and postgres://u:[redacted]@db.example/x");
    expect(out.text() + err.text()).not.toMatch(/hunter2|hun\/ter2/);
  });
});

describe("ops in a pipe", () => {
  it("exits quietly when the reader goes away (`ops plan | head`)", () => {
    const bin = new URL("../../bin/ops.js", import.meta.url).pathname;
    const piped = spawnSync(
      "bash",
      ["-o", "pipefail", "-c", `"${process.execPath}" "${bin}" plan --days 60 | head -1`],
      {
        encoding: "utf8",
      },
    );
    expect(piped.status).toBe(0);
    expect(piped.stdout).toMatch(/^system\s+runbook/);
    expect(piped.stderr).not.toMatch(/EPIPE/);
  }, 60_000);
});

describe("output fits 100 columns", () => {
  it("tables fold their cells within the column and keep every word", () => {
    const text = table(
      ["name", "note"],
      [["short", "a very long note that cannot fit in the room the other column leaves it ".repeat(3).trim()]],
      40,
    );
    const lines = text.split("\n");
    expect(lines.every((l) => l.length <= 40)).toBe(true);
    expect(lines.length).toBeGreaterThan(3);
    // Continuation lines keep the column: nothing under "name".
    expect(lines.slice(3).every((l) => l.startsWith(" ".repeat(7)))).toBe(true);
    const words = lines
      .slice(2)
      .join(" ")
      .split(/\s+/)
      .filter((w) => w && w !== "short");
    expect(words.join(" ")).toBe(
      "a very long note that cannot fit in the room the other column leaves it ".repeat(3).trim(),
    );
  });

  it.each([["systems"], ["plan", "--days", "3"], ["runbooks"], ["--help"], ["help", "run"], ["help", "restore"]])(
    "ops %s stays within 100 columns",
    async (...argv) => {
      const { code, out } = await ops(argv);
      expect(code).toBe(0);
      const wide = out.split("\n").filter((l) => l.length > 100);
      expect(wide).toEqual([]);
    },
  );
});
