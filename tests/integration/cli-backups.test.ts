import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * `ops backups`, `ops restore` and `ops audit` driven as a person would: the real executable as a child
 * process against the embedded stack (`ops stack up`) in a temp state directory, removed after.
 */
const bin = new URL("../../bin/ops.js", import.meta.url).pathname;
let root: string;
let stateDir: string;
let port: number;

function ops(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, OPS_STATE_DIR: stateDir, AWS_ENDPOINT_URL_S3: "", AWS_ENDPOINT_URL: "", PGPASSWORD: "" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

async function query(database: string, sql: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

interface Listed {
  databases: {
    database: string;
    backups: { key: string; takenAt: string; verified: boolean; sha256: string; kept: boolean; keptBy: string[] }[];
  }[];
}

let first: string;
let second: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ops-cli-backups-"));
  stateDir = join(root, "state");
  const up = await ops("stack", "up", "--json");
  expect(up.code, up.err).toBe(0);
  port = (JSON.parse(up.out) as { postgres: { port: number } }).postgres.port;
  for (let i = 0; i < 2; i++) {
    const backup = await ops("run", "backup", "--system", "demo", "force=true", "--json");
    expect(backup.code, backup.err).toBe(0);
    // Keys are to the second: the second backup must not land on the first one's key.
    await new Promise((r) => setTimeout(r, 1100));
  }
  const listed = JSON.parse((await ops("backups", "--system", "demo", "--json")).out) as Listed;
  [second, first] = (listed.databases[0]?.backups ?? []).map((b) => b.key) as [string, string];
}, 180_000);

afterAll(async () => {
  await ops("stack", "down");
  await rm(root, { recursive: true, force: true });
});

describe("ops backups", () => {
  it("lists each backup newest first, verified, with its sha256, versions and the slot that keeps it", async () => {
    const { code, out } = await ops("backups", "--system", "demo", "--json");
    expect(code).toBe(0);
    const listed = JSON.parse(out) as Listed;
    const backups = listed.databases[0]?.backups ?? [];
    expect(backups).toHaveLength(2);
    expect(backups.every((b) => b.verified && /^[0-9a-f]{64}$/.test(b.sha256))).toBe(true);
    expect(Date.parse(backups[0]?.takenAt ?? "")).toBeGreaterThan(Date.parse(backups[1]?.takenAt ?? ""));
    // Retention keeps one a day: the newer fills today's slot, the older is outside every period.
    expect(backups[0]?.keptBy).toContain("newest verified backup");
    expect(backups[0]?.keptBy.some((r) => r.startsWith("daily "))).toBe(true);
    expect(backups[1]).toMatchObject({ kept: false, keptBy: ["outside every retention period"] });

    const text = await ops("backups", "--system", "demo");
    expect(text.out).toContain("inventory (partpal_demo): 2 backups, 2 verified");
    expect(text.out).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+02:00 {2}\(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\)/);
    expect(text.out).toMatch(/versions {2}pg_dump 1\d\.\d+, server 1\d\.\d+/);
    expect(text.out).toContain("not kept  outside every retention period");
  });

  it("an unknown database or system is a usage error naming the known ones", async () => {
    const db = await ops("backups", "--system", "demo", "--database", "nosuch");
    expect([db.code, db.err]).toEqual([
      2,
      expect.stringContaining('unknown database "nosuch"; known databases: inventory'),
    ]);
    const none = await ops("backups");
    expect([none.code, none.err]).toEqual([2, expect.stringContaining("ops backups needs --system S")]);
  });
});

describe("ops restore", () => {
  it("a dry run says what it would restore where, and creates nothing", async () => {
    const { code, out, err } = await ops("restore", "--system", "demo", "--target", "dry_copy", "--dry-run");
    expect(code, err).toBe(0);
    expect(out).toContain(`backup   s3://ops-autopilot-demo/${second}`);
    expect(out).toContain("dry_copy: a new database (created first)");
    expect(out).toContain("nothing was changed");
    const exists = await query("postgres", "select 1 from pg_database where datname = 'dry_copy'");
    expect(exists).toHaveLength(0);
  });

  it("restores the newest verified backup into a new database, sha256 verified, with the source's rows", async () => {
    const url = `postgres://postgres@127.0.0.1:${port}/restored_copy?sslmode=disable`;
    const { code, out, err } = await ops(
      "restore",
      "--system",
      "demo",
      "--database",
      "inventory",
      "--target",
      url,
      "--json",
    );
    expect(code, err).toBe(0);
    const result = JSON.parse(out) as {
      status: string;
      checksumOk: boolean;
      backup: { key: string };
      tablesCreated: number;
    };
    expect(result).toMatchObject({ status: "restored", checksumOk: true, backup: { key: second } });
    expect(result.tablesCreated).toBeGreaterThan(0);
    const source = await query("partpal_demo", "select count(*)::int as n from parts");
    const copy = await query("restored_copy", "select count(*)::int as n from parts");
    expect(copy[0]?.n).toBeGreaterThan(0);
    expect(copy[0]?.n).toBe(source[0]?.n);
  });

  it("refuses a target that is not empty unless --force, and changes nothing when it refuses", async () => {
    await query("restored_copy", "delete from sales");
    const refused = await ops("restore", "--system", "demo", "--target", "restored_copy");
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/target postgres@127\.0\.0\.1:\d+\/restored_copy is not empty \(\d+ tables/);
    expect(refused.err).toContain("pass --force");
    expect(await query("restored_copy", "select count(*)::int as n from sales")).toEqual([{ n: 0 }]);

    const forced = await ops("restore", "--system", "demo", "--target", "restored_copy", "--force", "--backup", first);
    expect(forced.code, forced.err).toBe(0);
    expect(forced.out).toContain(`backup   s3://ops-autopilot-demo/${first}`);
    expect(forced.out).toMatch(/\[OK\] restored \d+ tables .*sha256 verified/);
    const sales = await query("restored_copy", "select count(*)::int as n from sales");
    expect(sales[0]?.n).toBeGreaterThan(0);
  });

  it("bad choices are usage errors that say what is allowed", async () => {
    const both = await ops("restore", "--system", "demo", "--target", "x1", "--backup", "k", "--at", "24h");
    expect([both.code, both.err]).toEqual([2, expect.stringContaining("give --backup KEY or --at TIME, not both")]);
    const unknown = await ops("restore", "--system", "demo", "--target", "x1", "--backup", "20200101T000000Z");
    expect([unknown.code, unknown.err]).toEqual([2, expect.stringContaining('no backup "20200101T000000Z"')]);
    const early = await ops("restore", "--system", "demo", "--target", "x1", "--at", "2020-01-01T00:00Z");
    expect(early.code).toBe(2);
    expect(early.err).toContain(
      "no verified backup was taken at or before 2020-01-01T00:00:00.000Z; the oldest is from",
    );
    const badAt = await ops("restore", "--system", "demo", "--target", "x1", "--at", "yesterday");
    expect([badAt.code, badAt.err]).toEqual([
      2,
      expect.stringContaining('--at "yesterday" is not a time; use an ISO time'),
    ]);
    const badTarget = await ops("restore", "--system", "demo", "--target", "mysql://h/db");
    expect([badTarget.code, badTarget.err]).toEqual([2, expect.stringContaining('scheme "mysql:" is not allowed')]);
    const noTarget = await ops("restore", "--system", "demo");
    expect([noTarget.code, noTarget.err]).toEqual([2, expect.stringContaining("ops restore needs --target URL")]);
    const created = await query("postgres", "select datname from pg_database where datname = 'x1'");
    expect(created).toHaveLength(0);
  });

  it("a dump whose bytes changed after its manifest was written fails the restore by its sha256", async () => {
    // The same size, one byte flipped near the end: only the checksum can tell.
    const object = join(stateDir, "s3", "ops-autopilot-demo", `${first}._S3rver_object`);
    const size = (await readFile(object)).length;
    const handle = await open(object, "r+");
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - 10);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, size - 10);
    await handle.close();
    const { code, out } = await ops("restore", "--system", "demo", "--target", "corrupt_copy", "--backup", first);
    expect(code).toBe(1);
    expect(out).toContain("[FAILED] the restored bytes do not match the manifest");
    expect(out).toContain("do not use it");
  });
});

describe("ops audit", () => {
  it("shows the runs the CLI made on the stack, from the demo bucket, readable and as JSON", async () => {
    const json = await ops("audit", "--system", "demo", "--json");
    expect(json.code, json.err).toBe(0);
    const runs = (
      JSON.parse(json.out) as { runs: { runbook: string; status: string; actions: { action: string }[] }[] }
    ).runs;
    expect(runs.filter((r) => r.runbook === "backup")).toHaveLength(2);
    expect(runs[0]).toMatchObject({ runbook: "backup", status: "succeeded", actions: [{ action: "backup" }] });
    const keys = await readdir(join(stateDir, "s3", "ops-autopilot-demo", "audit", "demo"));
    expect(keys.length).toBeGreaterThan(0);

    const text = await ops("audit", "--system", "demo", "--runbook", "backup");
    expect(text.out).toContain("2 runs in s3://ops-autopilot-demo/audit/demo/");
    expect(text.out).toMatch(/\d{2}:\d{2} \+02:00 {2}backup {2}succeeded: /);
    expect(text.out).toContain("done     backup demo/inventory");
  });

  it("filters by runbook and time, and rejects what it does not know", async () => {
    const other = await ops("audit", "--system", "demo", "--runbook", "restore-drill", "--json");
    expect((JSON.parse(other.out) as { runs: unknown[] }).runs).toEqual([]);
    const future = await ops("audit", "--system", "demo", "--since", "2099-01-01", "--json");
    expect((JSON.parse(future.out) as { runs: unknown[] }).runs).toEqual([]);
    const recent = await ops("audit", "--system", "demo", "--since", "1h", "--json");
    expect((JSON.parse(recent.out) as { runs: unknown[] }).runs.length).toBeGreaterThanOrEqual(2);
    const unknown = await ops("audit", "--system", "demo", "--runbook", "nosuch");
    expect([unknown.code, unknown.err]).toEqual([
      2,
      expect.stringContaining('unknown runbook "nosuch"; known runbooks:'),
    ]);
    const badSince = await ops("audit", "--system", "demo", "--since", "last week");
    expect(badSince.code).toBe(2);
    expect(badSince.err).toContain('--since "last week" is not a time');
  });
});

/** Runs `ops` on a pseudo-terminal (util-linux `script`), as a person at a terminal would see it. */
function opsOnTty(...args: string[]): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, bin, ...args].map((a) => `'${a}'`).join(" ");
  return new Promise((resolve) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      env: { ...process.env, OPS_STATE_DIR: stateDir, AWS_ENDPOINT_URL_S3: "", AWS_ENDPOINT_URL: "" },
    });
    let screen = "";
    child.stdout.on("data", (d) => {
      screen += d;
    });
    child.stderr.resume();
    child.on("close", (code) => resolve({ code, screen }));
  });
}

describe.skipIf(!existsSync("/usr/bin/script"))("output on a terminal and in a pipe", () => {
  it("on a TTY the progress line is cleared before the report", async () => {
    const { code, screen } = await opsOnTty("run", "backup", "--system", "demo", "force=true");
    expect(code, screen).toBe(0);
    expect(screen).toContain("dumping demo/inventory");
    // The report starts on a cleared line, never glued to the progress text.
    expect(screen).toContain("\r\u001b[2K[OK] demo backup: backed up 1 database, ");
    expect(screen).not.toMatch(/MiB( \d+%)?\[OK\]/);
  });

  it("on a TTY log lines read as text, and clear the progress line too", async () => {
    const { code, screen } = await opsOnTty("run", "backup", "--system", "demo", "force=true", "--verbose");
    expect(code, screen).toBe(0);
    expect(screen).toMatch(/INFO {2}run started {2}.*requestedBy=cli/);
    expect(screen).toMatch(/INFO {2}run finished {2}.*status=succeeded {2}summary=backed up 1 database/);
    expect(screen).not.toContain('{"level"');
    const last = screen.slice(screen.lastIndexOf("dumping demo/inventory"));
    const end = last.search(/[\r\n]/);
    expect(last.slice(end, end + 5)).toBe("\r\u001b[2K");
  });

  it("piped, log lines stay JSON records", async () => {
    const { code, err } = await ops("run", "backup", "--system", "demo", "--dry-run", "--verbose");
    expect(code, err).toBe(0);
    const lines = err.trim().split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty("level");
  });
});
