import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import { restoreFromS3 } from "../../lib/postgres/restore.js";
import { createScratchDatabase, dropScratchDatabase } from "../../lib/postgres/scratch.js";
import { connect } from "../../lib/postgres/server.js";
import { findTools } from "../../lib/postgres/tools.js";
import { inspectBackups } from "../../runbooks/backup/catalog.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { drillJanitorRunbook } from "../../runbooks/drill-janitor/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { formatDrillComment, scratchDatabaseName } from "../../runbooks/restore-drill/names.js";
import { listDrillRecords } from "../../runbooks/restore-drill/record.js";
import { drillCatalogueSchema } from "../../runbooks/restore-drill/settings.js";
import type { Report } from "../../runbooks/types.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";

const BUCKET = "ops-autopilot-demo";
const ROOT = resolve(import.meta.dirname, "../..");

interface DrillDetails {
  drills: {
    outcome: string;
    rto: { verdict: string; measuredMs?: number; marginMs?: number };
    rpo: { verdict: string; measuredMs?: number };
    checks: {
      name: string;
      kind: string;
      status: string;
      actual?: string;
      reason?: string;
      rows?: number;
      durationMs?: number;
    }[];
    cleanup: { status: string };
    scratch: string;
    drillId: string;
  }[];
}

const drillsOf = (report: Report) => (report.details as unknown as DrillDetails | undefined)?.drills ?? [];

describe("restore-drill with real PostgreSQL and S3", () => {
  let stack: TestStack;
  let env: Record<string, string | undefined>;
  // Each test runs its clock an hour further on, so backups and drills never share a timestamp.
  let hour = 0;

  const context = (extra: Parameters<typeof testContext>[0] = {}) => {
    const offset = ++hour * 3_600_000;
    return testContext({
      system: "demo",
      clients: stack.clients,
      env,
      now: () => new Date(Date.now() + offset),
      ...extra,
    });
  };

  const scratchDatabases = async (): Promise<string[]> => {
    const client = await connect(stack.postgres.connection());
    try {
      const result = await client.query<{ datname: string }>(
        "select datname from pg_database where datname like 'drill\\_%' order by datname",
      );
      return result.rows.map((r) => r.datname);
    } finally {
      await client.end();
    }
  };

  /** The demo system with these SQL checks in its catalogue (the only place checks come from). */
  const demoWithChecks = (checks: unknown[]): System => {
    const demo = findSystem(builtinFleet(), "demo");
    return { ...demo, dr: { ...demo.dr, drill: drillCatalogueSchema.parse({ ...demo.dr.drill, checks }) } };
  };

  /** The demo database's backups in the test bucket, and the newest verified one. */
  const demoBackups = () =>
    inspectBackups(stack.s3, {
      bucket: BUCKET,
      prefix: "pg_dump",
      system: "demo",
      database: "inventory",
      // Each test's clock runs ahead (see `context`): read the backups as the latest of them sees them.
      now: new Date(Date.now() + hour * 3_600_000),
    });

  const takeBackup = async () => {
    const ctx = context();
    const report = await backupRunbook.run(ctx, backupRunbook.input.parse({ force: true }));
    expect(report.status, report.summary).toBe("succeeded");
    return ctx;
  };

  beforeAll(async () => {
    stack = await startTestStack([BUCKET]);
    await ensureDatabase(stack.postgres.connection(), "partpal_demo");
    await seedInventory(stack.postgres.connection("partpal_demo"), { scale: 0.05 });
    env = {
      OPS_DEMO_DATABASE_URL: stack.postgres.url("partpal_demo"),
      PATH: process.env.PATH,
      HOME: process.env.HOME,
    };
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("restores the newest backup into a scratch database, validates it, drops it and saves the record", async () => {
    await takeBackup();
    const ctx = context({
      system: demoWithChecks([
        // Proves the checks ran inside the scratch copy, not the source.
        {
          name: "runs in the scratch copy",
          sql: "select current_database() like 'drill_demo_inventory_%'",
          expect: { equals: true },
        },
      ]),
    });
    const report = await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({}));
    expect(report.status, report.summary).toBe("succeeded");
    const [drill] = drillsOf(report);
    expect(drill?.outcome).toBe("passed");
    expect(drill?.rto.verdict).toBe("met");
    expect(drill?.rto.measuredMs).toBeGreaterThan(0);
    expect(drill?.rpo.verdict).toBe("met");
    const checks = new Map(drill?.checks.map((c) => [c.name, c]));
    expect(checks.get("checksum")?.status).toBe("passed");
    expect(checks.get("pg_restore exit status")?.status).toBe("passed");
    expect(checks.get("table count")).toMatchObject({ status: "passed", actual: "3" });
    // scale 0.05: 1000 vehicles, 10000 parts, 12500 sales, counted exactly in the copy.
    expect(checks.get("rows public.vehicles")).toMatchObject({ status: "passed", actual: "1000" });
    expect(checks.get("rows public.sales")).toMatchObject({ status: "passed", actual: "12500" });
    expect(checks.get("runs in the scratch copy")?.status).toBe("passed");
    expect(drill?.cleanup.status).toBe("removed");
    expect(await scratchDatabases()).toEqual([]);
    expect(report.summary).toMatch(/drill passed; RTO met: .* of 30 min \(margin .*\); RPO met: .* of 24 h/);

    const { records } = await listDrillRecords(stack.s3, { bucket: BUCKET, system: "demo" });
    expect(records.map((r) => r.drillId)).toContain(drill?.drillId);
    // The run claimed the database while it drilled (a duplicate event would have been skipped), and
    // released the claim when done.
    const claims = await stack.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "drills/demo/claims/" }));
    expect(claims.Contents ?? []).toEqual([]);
    expect(ctx.logLines().filter((l) => String(l.message).includes("claim"))).toEqual([]);
  });

  it("fails the drill and leaves nothing behind when the backup's bytes do not match its manifest", async () => {
    await takeBackup();
    const listing = await demoBackups();
    const newest = listing.backups[listing.backups.length - 1];
    if (!newest) throw new Error("no backup");
    const object = await stack.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: newest.key }));
    const bytes = Buffer.from(await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())));
    // Same size (so the listing still calls it verified), different bytes in the middle of the data.
    const middle = Math.floor(bytes.length / 2);
    for (let i = middle; i < middle + 64; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    await stack.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: newest.key, Body: bytes }));

    for (const restoreMode of ["stream", "download"] as const) {
      const report = await restoreDrillRunbook.run(context(), restoreDrillRunbook.input.parse({ restoreMode }));
      expect(report.status, `${restoreMode}: ${report.summary}`).toBe("failed");
      const [drill] = drillsOf(report);
      expect(drill?.outcome).toBe("failed");
      expect(drill?.checks.find((c) => c.name === "checksum")?.status).toBe("failed");
      expect(drill?.rto.verdict).toBe("missed");
      expect(drill?.rpo.verdict).toBe("missed");
      expect(drill?.cleanup.status).toBe("removed");
      if (restoreMode === "download") {
        // Verified before restoring: pg_restore never ran on the corrupt file.
        expect(drill?.checks.find((c) => c.name === "pg_restore exit status")?.status).toBe("skipped");
      }
      expect(await scratchDatabases()).toEqual([]);
    }
  });

  it("reports custom checks one by one; a failing one fails the drill and the scratch database is still dropped", async () => {
    await takeBackup();
    const checks = [
      { name: "vehicles present", sql: "select count(*) from vehicles", expect: { min: 1 } },
      { name: "no negative prices", sql: "select count(*) from parts where price_cents < 0", expect: { equals: 0 } },
      {
        name: "a sale per customer-0",
        sql: "select * from sales where customer = 'customer-0'",
        expect: { minRows: 1 },
      },
      { name: "impossible expectation", sql: "select count(*) from vehicles", expect: { equals: 42 } },
      { name: "broken sql", sql: "select * from no_such_table", expect: { rows: 0 } },
      { name: "cannot write", sql: "delete from vehicles", expect: { rows: 0 } },
    ];
    const report = await restoreDrillRunbook.run(
      context({ system: demoWithChecks(checks) }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status).toBe("failed");
    const [drill] = drillsOf(report);
    const custom = drill?.checks.filter((c) => c.kind === "custom") ?? [];
    expect(custom.map((c) => [c.name, c.status])).toEqual([
      ["vehicles present", "passed"],
      ["no negative prices", "passed"],
      ["a sale per customer-0", "passed"],
      ["impossible expectation", "failed"],
      ["broken sql", "failed"],
      ["cannot write", "failed"],
    ]);
    // Pass/fail with numbers: the value the query returned (1000) is not reported.
    expect(custom.find((c) => c.name === "impossible expectation")).toMatchObject({
      reason: "the first column of the first row is not = 42",
      rows: 1,
    });
    expect(JSON.stringify(custom.find((c) => c.name === "impossible expectation"))).not.toContain("1000");
    expect(custom.find((c) => c.name === "broken sql")?.reason).toBe(
      "the query failed: SQLSTATE 42P01 (undefined_table)",
    );
    expect(custom.find((c) => c.name === "cannot write")?.reason).toMatch(/SQLSTATE 25006/);
    for (const check of custom) expect(check.durationMs).toBeGreaterThanOrEqual(0);
    expect(drill?.outcome).toBe("failed");
    expect(drill?.cleanup.status).toBe("removed");
    expect(report.summary).toContain("impossible expectation");
    expect(await scratchDatabases()).toEqual([]);
  });

  it("download mode reassembles the dump from parallel ranged GETs byte for byte", async () => {
    await takeBackup();
    const listing = await demoBackups();
    const { newest } = listing;
    if (!newest) throw new Error("no backup");
    const name = "drill_demo_inventory_ranges";
    await createScratchDatabase(stack.postgres.connection(), name, "{}");
    try {
      const [tool] = (await findTools({ name: "pg_restore", path: process.env.PATH ?? "" })).sort(
        (a, b) => b.major - a.major,
      );
      if (!tool) throw new Error("no pg_restore");
      const result = await restoreFromS3({
        s3: stack.s3,
        bucket: BUCKET,
        key: newest.manifest.key,
        expected: { bytes: newest.manifest.bytes, sha256: newest.manifest.sha256 },
        tool,
        conn: stack.postgres.connection(name),
        mode: "download",
        jobs: 2,
        // Many small parts, several in flight: order and offsets must come out right.
        partBytes: 64 * 1024,
        downloadConcurrency: 3,
      });
      expect(newest.manifest.bytes).toBeGreaterThan(4 * 64 * 1024);
      expect(result).toMatchObject({ checksumOk: true, ran: true, exitCode: 0, tablesCreated: 3, tablesLoaded: 3 });
      expect(result.sha256).toBe(newest.manifest.sha256);
    } finally {
      await dropScratchDatabase(stack.postgres.connection(), name);
    }
  });

  it("drops the scratch database when the drill is stopped mid-restore", async () => {
    await takeBackup();
    const controller = new AbortController();
    const ctx = { ...context({ signal: controller.signal }) };
    ctx.progress = (message) => {
      if (/MiB/.test(message)) controller.abort(new Error("Lambda deadline"));
    };
    const report = await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({ restoreMode: "stream" }));
    expect(report.status).toBe("failed");
    const [drill] = drillsOf(report);
    expect(drill?.outcome).toBe("failed");
    expect(report.actions.find((a) => a.action === "restore")?.reason).toMatch(/Lambda deadline/);
    expect(drill?.cleanup.status).toBe("removed");
    expect(await scratchDatabases()).toEqual([]);
  });

  it("skips a drill while another drill of the database is in flight (at-least-once delivery)", async () => {
    const start = new Date(Date.now() + ++hour * 3_600_000);
    const name = scratchDatabaseName("demo", "inventory", new Date("2099-01-01T00:00:00Z"));
    await createScratchDatabase(
      stack.postgres.connection(),
      name,
      formatDrillComment({
        drillId: "demo/inventory/20990101t000000z",
        system: "demo",
        database: "inventory",
        startedAt: start.toISOString(),
        deadline: new Date(start.getTime() + 3_600_000).toISOString(),
      }),
    );
    try {
      const report = await restoreDrillRunbook.run(
        context({ now: () => new Date(start.getTime() + 60_000) }),
        restoreDrillRunbook.input.parse({}),
      );
      expect(report.status).toBe("skipped");
      expect(report.actions[0]?.reason).toMatch(/in progress/);
      expect(await scratchDatabases()).toEqual([name]);
    } finally {
      await dropScratchDatabase(stack.postgres.connection(), name);
    }
  });

  it("does not start a restore that cannot finish before the Lambda deadline", async () => {
    const offset = (hour + 1) * 3_600_000;
    const report = await restoreDrillRunbook.run(
      // The deadline is now: any estimate is over budget.
      context({ deadline: new Date(Date.now() + offset) }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status).toBe("skipped");
    expect(report.actions[0]?.reason).toMatch(
      /estimated download .* and restore .* exceed the .* budget, and .*; run it as a plain process/,
    );
    expect(await scratchDatabases()).toEqual([]);
  });

  it("a dry run says what it would do and creates nothing", async () => {
    const before = await listDrillRecords(stack.s3, { bucket: BUCKET, system: "demo" });
    const report = await restoreDrillRunbook.run(context({ dryRun: true }), restoreDrillRunbook.input.parse({}));
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["create-scratch-database", "would-do"],
      ["restore", "would-do"],
      ["validate", "would-do"],
      ["drop-scratch-database", "would-do"],
    ]);
    expect(await scratchDatabases()).toEqual([]);
    const after = await listDrillRecords(stack.s3, { bucket: BUCKET, system: "demo" });
    expect(after.records.length).toBe(before.records.length);
  });

  it("the janitor drops an unlabelled database only when its name is exactly a drill's, never a look-alike", async () => {
    const production = ["drill_demo_inventory_reports", "drill_demo_inventory_copy_20200101t000000z"];
    // A drill that died between CREATE DATABASE and COMMENT: its name is all there is.
    const crashed = scratchDatabaseName("demo", "inventory", new Date("2020-01-01T00:00:00Z"));
    const client = await connect(stack.postgres.connection());
    try {
      for (const name of [...production, crashed]) await client.query(`create database "${name}"`);
    } finally {
      await client.end();
    }
    try {
      const report = await drillJanitorRunbook.run(
        testContext({ system: "demo", clients: stack.clients, env, now: () => new Date(Date.now() + 3_600_000) }),
        drillJanitorRunbook.input.parse({}),
      );
      expect(report.status, report.summary).toBe("succeeded");
      expect(report.actions.find((a) => a.resource.endsWith(crashed))?.status).toBe("done");
      expect(await scratchDatabases()).toEqual([...production].sort());
    } finally {
      for (const name of production) await dropScratchDatabase(stack.postgres.connection(), name);
    }
  });

  it("removes a scratch database it created but could not label", async () => {
    const name = "drill_demo_inventory_unlabelled";
    // A NUL cannot travel in a query string: CREATE DATABASE succeeds, COMMENT fails.
    await expect(createScratchDatabase(stack.postgres.connection(), name, "bad\u0000comment")).rejects.toThrow(
      /cannot label scratch database/,
    );
    expect(await scratchDatabases()).toEqual([]);
  });

  it("a custom check cannot leave its read-only transaction and write (one statement per check)", async () => {
    await takeBackup();
    const checks = [
      {
        name: "sneaky write",
        sql: "rollback; set session characteristics as transaction read write; commit; delete from sales",
        expect: { rows: 0 },
      },
      { name: "sales still there", sql: "select count(*) from sales", expect: { min: 1 } },
    ];
    const report = await restoreDrillRunbook.run(
      context({ system: demoWithChecks(checks) }),
      restoreDrillRunbook.input.parse({}),
    );
    const [drill] = drillsOf(report);
    const custom = drill?.checks.filter((c) => c.kind === "custom") ?? [];
    expect(custom.map((c) => [c.name, c.status])).toEqual([
      ["sneaky write", "failed"],
      ["sales still there", "passed"],
    ]);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("a crash mid-restore leaves a scratch database that the janitor removes after its deadline, not before", async () => {
    await takeBackup();
    // The backup is dated on this file's clock, which runs hours ahead: so do the child and the janitor,
    // or the backup would be in their future (and rightly not restored).
    const offset = hour * 3_600_000;
    // A separate process runs the drill and kills itself (SIGKILL: no finally, no cleanup) once bytes flow.
    const child = join(stack.dir, "crash-drill.mts");
    const url = (path: string) => pathToFileURL(join(ROOT, path)).href;
    await writeFile(
      child,
      `
import { createAwsClients } from ${JSON.stringify(url("lib/aws/clients.ts"))};
import { builtinFleet, findSystem } from ${JSON.stringify(url("systems/index.ts"))};
import { createLogger } from ${JSON.stringify(url("lib/logger.ts"))};
import { createPorts } from ${JSON.stringify(url("lib/ports.ts"))};
import { restoreDrillRunbook } from ${JSON.stringify(url("runbooks/restore-drill.ts"))};
import { restoreDrillRunbook } from ${JSON.stringify(url("runbooks/restore-drill/index.ts"))};
const config = JSON.parse(process.argv[2]);
// The standard clients, pointed at the local S3 server by AWS_ENDPOINT_URL_S3 (set by the parent).
const clients = createAwsClients({ region: "us-east-1", s3ForcePathStyle: true });
const ctx = {
  system: findSystem(builtinFleet(), "demo"),
  clients,
  // The ports a runner builds (lib/runner.ts): PostgreSQL, pg_restore, the temp directory, from the same env.
  ...createPorts({ env: config.env, secrets: clients.secrets }),
  logger: createLogger({ logLevel: "ERROR" }),
  now: () => new Date(Date.now() + config.offset),
  dryRun: false,
  notify: { notify: async () => {} },
  env: config.env,
  progress: (message) => { if (/MiB/.test(message)) process.kill(process.pid, "SIGKILL"); },
};
await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({ restoreMode: "stream" }));
console.log("the drill finished: the crash did not happen");
`,
    );
    const exit = await new Promise<{ code: number | null; signal: string | null; out: string }>((done) => {
      const proc = spawn(process.execPath, ["--import", "tsx", child, JSON.stringify({ env, offset })], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stack.s3server.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      proc.stdout.on("data", (d) => {
        out += d;
      });
      proc.stderr.on("data", (d) => {
        out += d;
      });
      proc.on("close", (code, signal) => done({ code, signal, out }));
    });
    expect(exit.signal, exit.out).toBe("SIGKILL");
    const left = await scratchDatabases();
    expect(left).toHaveLength(1);
    const name = left[0] ?? "";
    expect(name).toMatch(/^drill_demo_inventory_[0-9a-f]{8}_\d{8}t\d{6}z$/);

    // Before the deadline (max(3 × 30 min, 60 min) + 5 min grace): the janitor leaves it alone.
    const soon = await drillJanitorRunbook.run(
      testContext({
        system: "demo",
        clients: stack.clients,
        env,
        now: () => new Date(Date.now() + offset + 30 * 60_000),
      }),
      drillJanitorRunbook.input.parse({}),
    );
    expect(soon.actions.find((a) => a.resource.endsWith(name))?.status).toBe("skipped");
    expect(await scratchDatabases()).toEqual([name]);

    const later = await drillJanitorRunbook.run(
      testContext({
        system: "demo",
        clients: stack.clients,
        env,
        now: () => new Date(Date.now() + offset + 3 * 3_600_000),
      }),
      drillJanitorRunbook.input.parse({}),
    );
    expect(later.status).toBe("succeeded");
    expect(later.actions.find((a) => a.resource.endsWith(name))).toMatchObject({
      action: "drop-scratch-database",
      status: "done",
    });
    expect(await scratchDatabases()).toEqual([]);
    // Only scratch databases are candidates: the source is untouched.
    const client = await connect(stack.postgres.connection());
    try {
      const source = await client.query("select 1 from pg_database where datname = 'partpal_demo'");
      expect(source.rowCount).toBe(1);
    } finally {
      await client.end();
    }
  });
});
