import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import { createCheckRole, scramVerifier } from "../../lib/postgres/check-role.js";
import { createScratchDatabase, dropScratchDatabase } from "../../lib/postgres/scratch.js";
import { connect } from "../../lib/postgres/server.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { drillJanitorRunbook } from "../../runbooks/drill-janitor/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { formatDrillComment, scratchDatabaseName } from "../../runbooks/restore-drill/names.js";
import { listDrillRecords } from "../../runbooks/restore-drill/record.js";
import type { Report } from "../../runbooks/types.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";

/**
 * The attacks issue 10 reproduced against a real PostgreSQL, run through the real drill: SQL checks that
 * exfiltrate row values, terminate other databases' sessions, write server files and read other
 * databases; and a pg_dump drill that falls back to the production server.
 */

const BUCKET = "ops-autopilot-demo";

interface Check {
  name: string;
  status: string;
  kind: string;
  reason?: string;
  actual?: string;
}

const drillChecks = (report: Report): Check[] =>
  ((report.details as { drills?: { checks: Check[] }[] } | undefined)?.drills?.[0]?.checks ?? []).filter(
    (c) => c.kind === "custom",
  );

describe("restore drill trust boundaries (real PostgreSQL)", () => {
  let stack: TestStack;
  let env: Record<string, string | undefined>;
  let hour = 0;
  const demo = () => findSystem(builtinFleet(), "demo");

  /** The demo with a changed `dr.drill` (spread, not re-parsed: checks are catalogue data). */
  const demoWith = (drill: Record<string, unknown>, over: Partial<System> = {}): System => {
    const base = demo();
    return { ...base, ...over, dr: { ...base.dr, drill: { ...(base.dr.drill ?? {}), ...drill } as never } };
  };

  const context = (system: System, extra: Parameters<typeof testContext>[0] = {}) => {
    const offset = ++hour * 3_600_000;
    return testContext({ system, clients: stack.clients, env, now: () => new Date(Date.now() + offset), ...extra });
  };

  const query = async <T extends Record<string, unknown>>(sql: string, database = "postgres") => {
    const client = await connect(stack.postgres.connection(database));
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    stack = await startTestStack([BUCKET]);
    await ensureDatabase(stack.postgres.connection(), "partpal_demo");
    await seedInventory(stack.postgres.connection("partpal_demo"), { scale: 0.02 });
    // dblink in the source, so the restored copy has it: the way a check would reach another database.
    await query("create extension if not exists dblink", "partpal_demo");
    env = { OPS_DEMO_DATABASE_URL: stack.postgres.url("partpal_demo"), PATH: process.env.PATH, HOME: process.env.HOME };
    // Passwords are really checked for every role but the admin: the drill's role must log in with its own.
    const hba = join(stack.postgres.dataDir, "pg_hba.conf");
    const rules = "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
    await writeFile(hba, rules + (await readFile(hba, "utf8")));
    // DDL is logged, as a cautious operator would have it: the role's password must not be in that log.
    await query("alter system set log_statement = 'ddl'");
    await query("select pg_reload_conf()");
    const report = await backupRunbook.run(context(demo()), backupRunbook.input.parse({ force: true }));
    expect(report.status, report.summary).toBe("succeeded");
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("SQL checks from the catalogue run as a powerless role: no row values reported, no other session killed, no server file written, no other database read", async () => {
    // Prepare: a session of the production database that a check will try to terminate.
    const victim = await connect(stack.postgres.connection("partpal_demo"));
    await victim.query("set application_name = 'victim'");
    const leak = join(stack.postgres.dataDir, "leak.csv");
    const port = stack.postgres.port;
    const checks = [
      { name: "value", sql: "select customer from sales order by id limit 1", expect: { equals: "nobody" } },
      { name: "value in an error", sql: "select customer::int from sales order by id limit 1", expect: { min: 0 } },
      {
        name: "terminate",
        sql: "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'victim') t",
        expect: { min: 0 },
      },
      // Inside the data directory: the one place the server's OS user may surely write.
      { name: "server file", sql: `copy (select * from sales) to '${leak}'`, expect: { rows: 0 } },
      {
        name: "other database by dblink",
        sql: `select count(*) from dblink('host=127.0.0.1 port=${port} dbname=partpal_demo user=postgres', 'select customer from sales') as t(c text)`,
        expect: { min: 1 },
      },
      {
        name: "other database's files",
        sql: "select pg_read_binary_file('base/' || (select oid from pg_database where datname = 'partpal_demo') || '/PG_VERSION')",
        expect: { minRows: 1 },
      },
      {
        name: "no privileged attribute",
        sql: "select rolsuper or rolcreaterole or rolcreatedb or rolreplication or rolbypassrls from pg_roles where rolname = current_user",
        expect: { equals: false },
      },
      {
        name: "member of no role",
        sql: "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.member where r.rolname = current_user",
        expect: { equals: 0 },
      },
      {
        name: "PUBLIC cannot connect",
        sql: "select count(*) from pg_database d, aclexplode(d.datacl) a where d.datname = current_database() and a.grantee = 0 and a.privilege_type = 'CONNECT'",
        expect: { equals: 0 },
      },
      { name: "reads the copy", sql: "select count(*) from sales", expect: { min: 1 } },
    ];
    try {
      // Act
      const ctx = context(demoWith({ checks }));
      const report = await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({}));

      // Assess: the attacks failed, the honest checks passed.
      const status = Object.fromEntries(drillChecks(report).map((c) => [c.name, c.status]));
      expect(status).toEqual({
        value: "failed",
        "value in an error": "failed",
        terminate: "failed",
        "server file": "failed",
        "other database by dblink": "failed",
        "other database's files": "failed",
        "no privileged attribute": "passed",
        "member of no role": "passed",
        "PUBLIC cannot connect": "passed",
        "reads the copy": "passed",
      });
      // No row value anywhere: not in the report, its record in S3, or the logs.
      const { records } = await listDrillRecords(stack.s3, { bucket: BUCKET, system: "demo" });
      for (const text of [JSON.stringify(report), JSON.stringify(records), JSON.stringify(ctx.logLines())]) {
        expect(text).not.toMatch(/customer-\d/);
      }
      expect((await victim.query("select 1 as alive")).rows).toEqual([{ alive: 1 }]);
      expect(existsSync(leak)).toBe(false);
      // The role went with the scratch copy; the server's DDL log holds a SCRAM verifier, not a password.
      expect(await query("select rolname from pg_roles where rolname like 'drill\\_check\\_%'")).toEqual([]);
      const log = await readFile(join(stack.dir, "pg.log"), "utf8");
      const created = log.split("\n").filter((l) => /create role/i.test(l));
      expect(created.length).toBeGreaterThanOrEqual(1);
      for (const line of created) expect(line).toMatch(/password 'SCRAM-SHA-256\$4096:/);
    } finally {
      await victim.end().catch(() => {});
    }
  });

  it("the check role's SCRAM verifier is the one PostgreSQL itself computes for the password", async () => {
    await query("set password_encryption = 'scram-sha-256'; create role scram_probe password 'pencil-Passw0rd'");
    try {
      const [row] = await query<{ secret: string }>(
        "select rolpassword as secret from pg_authid where rolname = 'scram_probe'",
      );
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(row?.secret ?? "");
      if (!m?.[1] || !m[2]) throw new Error("no SCRAM verifier stored");
      expect(scramVerifier("pencil-Passw0rd", Buffer.from(m[2], "base64"), Number(m[1]))).toBe(row?.secret);
    } finally {
      await query("drop role scram_probe");
    }
  });

  it("a pg_dump drill with neither dr.drill.target nor the opt-in fails, naming the field, and touches no server", async () => {
    const system = demoWith({ allowSourceServer: false });
    const report = await restoreDrillRunbook.run(context(system), restoreDrillRunbook.input.parse({}));
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(/needs a drill target server distinct from production; set dr\.drill\.target/);
    expect(await query("select datname from pg_database where datname like 'drill\\_%'")).toEqual([]);
    // The janitor has nowhere to look either, and says so instead of sweeping the production server.
    const swept = await drillJanitorRunbook.run(context(system), drillJanitorRunbook.input.parse({}));
    expect(swept.status).toBe("succeeded");
    expect(swept.actions).toMatchObject([
      { action: "sweep-databases", status: "skipped", reason: expect.stringMatching(/set dr\.drill\.target/) },
    ]);
  });

  it("the janitor drops a leftover check role of its own system after the deadline, never another system's", async () => {
    const label = (system: string, database: string) => ({
      drillId: `${system}/${database}/20200101t000000z`,
      system,
      database,
      deadline: "2020-01-01T02:00:00.000Z",
    });
    const made: string[] = [];
    for (const [system, database] of [
      ["demo", "inventory"],
      ["ims-2", "main"],
    ] as const) {
      const name = scratchDatabaseName(system, database, new Date("2020-01-01T00:00:00Z"));
      made.push(name);
      const { drillId, deadline } = label(system, database);
      await createScratchDatabase(
        stack.postgres.connection(),
        name,
        formatDrillComment({ drillId, system, database, startedAt: "2020-01-01T00:00:00.000Z", deadline }),
      );
      // A drill that crashed after creating its role: role and grants are left.
      await createCheckRole(stack.postgres.connection(name), label(system, database));
    }
    try {
      const report = await drillJanitorRunbook.run(context(demo()), drillJanitorRunbook.input.parse({}));
      expect(report.status, report.summary).toBe("succeeded");
      expect(report.actions.filter((a) => a.action === "drop-check-role")).toMatchObject([
        { status: "done", resource: expect.stringContaining("demo/inventory/20200101t000000z") },
      ]);
      const roles = await query<{ comment: string }>(
        "select shobj_description(oid, 'pg_authid') as comment from pg_roles where rolname like 'drill\\_check\\_%'",
      );
      expect(roles.map((r) => JSON.parse(r.comment).system)).toEqual(["ims-2"]);
    } finally {
      await dropScratchDatabase(stack.postgres.connection(), made[1] ?? "");
      for (const role of await query<{ rolname: string }>(
        "select rolname from pg_roles where rolname like 'drill\\_check\\_%'",
      ))
        await query(`drop role "${role.rolname}"`);
    }
  });

  it("a dr.drill.target that is the database's own server is refused without the opt-in", async () => {
    const system = demoWith({ allowSourceServer: false, target: { source: "env", variable: "OPS_TEST_DRILL_TARGET" } });
    const report = await restoreDrillRunbook.run(
      context(system, { env: { ...env, OPS_TEST_DRILL_TARGET: stack.postgres.url("postgres") } }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(/dr\.drill\.target points at the database's own server/);
  });

  it("a restore that fails on a row reports pg_restore's error without the row the server quotes", async () => {
    // Checks that read another table: pg_dump loads "secrets" and "tokens" before "zallowed", so every row
    // fails them on restore. The server's DETAIL and CONTEXT lines quote the row; the function "vouch"
    // raises with the value in the message itself.
    // Words a CONTEXT or DETAIL line would be kept for ("error"), inside a value that must not be reported.
    const secret = "tok-live-SECRET error 1234";
    await query(
      `create table zallowed(token text);
       insert into zallowed values ('${secret}');
       create function allowed(t text) returns boolean language sql stable
         as 'select exists (select 1 from public.zallowed where token = t)';
       create function vouch(t text) returns boolean language plpgsql stable as $$
         begin
           if not exists (select 1 from public.zallowed where token = t) then
             raise exception 'token % could not be accepted', t;
           end if;
           return true;
         end $$;
       create table secrets(id int primary key, token text constraint secrets_token_check check (public.allowed(token)));
       insert into secrets values (1, '${secret}');
       create table tokens(id int primary key, token text check (public.vouch(token)));
       insert into tokens values (1, '${secret}');`,
      "partpal_demo",
    );
    try {
      const backup = await backupRunbook.run(context(demo()), backupRunbook.input.parse({ force: true }));
      expect(backup.status, backup.summary).toBe("succeeded");
      const report = await restoreDrillRunbook.run(context(demo()), restoreDrillRunbook.input.parse({}));
      expect(report.status).toBe("failed");
      const text = JSON.stringify(report);
      // A message that names identifiers only is kept; one that quotes the value is withheld.
      expect(text).toContain('violates check constraint \\"secrets_token_check\\"');
      expect(text).toContain(
        'COPY failed for table \\"tokens\\": ERROR:  [server message withheld: it may quote row values]',
      );
      expect(text).not.toContain("tok-live");
    } finally {
      await query(
        "drop table secrets; drop table tokens; drop function allowed(text); drop function vouch(text); drop table zallowed;",
        "partpal_demo",
      );
      const restored = await backupRunbook.run(context(demo()), backupRunbook.input.parse({ force: true }));
      expect(restored.status, restored.summary).toBe("succeeded");
    }
  });

  it("the janitor acts only on what its own system created: ims never drops ims-2's leftovers", async () => {
    const inventory = demo().databases[0];
    if (!inventory) throw new Error("demo has no database");
    const ims = demoWith({}, { id: "ims", databases: [{ ...inventory, id: "2-main" }] });
    const crashedAt = new Date("2020-01-01T00:00:00Z");
    // Unlabelled leftovers (a crash between CREATE DATABASE and COMMENT) of ims-2/main and of ims/2-main,
    // and a database named like ims's whose COMMENT says ims-2 made it.
    const theirs = scratchDatabaseName("ims-2", "main", crashedAt);
    const ours = scratchDatabaseName("ims", "2-main", crashedAt);
    const labelled = scratchDatabaseName("ims", "2-main", new Date("2020-01-02T00:00:00Z"));
    for (const name of [theirs, ours]) await query(`create database "${name}"`);
    await createScratchDatabase(
      stack.postgres.connection(),
      labelled,
      formatDrillComment({
        drillId: "ims-2/main/20200102t000000z",
        system: "ims-2",
        database: "main",
        startedAt: "2020-01-02T00:00:00.000Z",
        deadline: "2020-01-02T01:00:00.000Z",
      }),
    );
    try {
      const report = await drillJanitorRunbook.run(context(ims), drillJanitorRunbook.input.parse({}));
      expect(report.status, report.summary).toBe("succeeded");
      const left = (
        await query<{ datname: string }>("select datname from pg_database where datname like 'drill\\_%'")
      ).map((r) => r.datname);
      expect(left.sort()).toEqual([theirs, labelled].sort());
    } finally {
      for (const name of [theirs, ours, labelled]) await dropScratchDatabase(stack.postgres.connection(), name);
    }
  });
});
