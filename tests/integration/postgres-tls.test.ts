import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { libpqEnv, type PgConnection } from "../../lib/postgres/connection.js";
import { connect } from "../../lib/postgres/server.js";
import { findTools, type PgTool } from "../../lib/postgres/tools.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { type System, systemSchema } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";

const run = promisify(execFile);
const BUCKET = "shop-tls-backups";
const PASSWORD = "app-Pa55/word";

let stack: TestStack;
let pgDump: PgTool;
let pgRestore: PgTool;
/** The role the checks connect as (SCRAM over TLS; the server refuses TCP without TLS). */
let app: PgConnection;

const newest = async (name: string) => {
  const [tool] = (await findTools({ name, path: process.env.PATH ?? "" })).sort((a, b) => b.major - a.major);
  if (!tool) throw new Error(`no ${name}`);
  return tool;
};

/** A system whose one database is this test's TLS server, read from an environment URL. */
function shop(): System {
  return systemSchema.parse({
    id: "shop",
    name: "Shop",
    account: { region: "us-east-1" },
    timezone: "UTC",
    runtime: { kind: "none", reason: "test" },
    databases: [
      {
        id: "main",
        engine: "postgres",
        engineVersion: "16",
        database: "shop",
        credentials: { source: "env", variable: "SHOP_URL" },
      },
    ],
    backup: { bucket: BUCKET, prefix: "pg_dump", retention: { keepDaily: 7 } },
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: false, reason: "test" },
  });
}

/** Runs a libpq program with the environment our code builds for it; resolves to its exit and stderr. */
async function libpq(
  tool: PgTool,
  args: string[],
  conn: PgConnection,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tool.path, args, {
      env: { PATH: process.env.PATH ?? "", ...libpqEnv(conn) },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: Number(failed.code ?? 1), stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

beforeAll(async () => {
  stack = await startTestStack([BUCKET], { tls: true });
  pgDump = await newest("pg_dump");
  pgRestore = await newest("pg_restore");
  const admin = await connect(stack.postgres.connection());
  try {
    await admin.query(`create role app login password '${PASSWORD}'`);
    await admin.query("create database shop owner app");
    await admin.query("create database shop_restored owner app");
  } finally {
    await admin.end();
  }
  const certs = stack.certs;
  if (!certs) throw new Error("the stack was started without TLS");
  app = {
    host: certs.hostname,
    port: stack.postgres.port,
    user: "app",
    password: PASSWORD,
    database: "shop",
    sslmode: "verify-full",
    sslrootcert: certs.caFile,
  };
  const client = await connect(app);
  try {
    await client.query(
      "create table orders (id int primary key, total numeric); insert into orders values (1, 9.5), (2, 12)",
    );
  } finally {
    await client.end();
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe("verify-full against a real PostgreSQL serving TLS", () => {
  it("node-postgres: the right CA and host name connect, over TLS", async () => {
    const client = await connect(app);
    try {
      const result = await client.query<{ ssl: boolean }>("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
      expect(result.rows[0]?.ssl).toBe(true);
    } finally {
      await client.end();
    }
  });

  it("node-postgres: a CA that did not sign the server's certificate is refused", async () => {
    const attempt = connect({ ...app, sslrootcert: stack.certs?.otherCaFile ?? "" });
    await expect(attempt).rejects.toThrow(
      /cannot connect to app@localhost:\d+\/shop: .*(self-signed|unable to (verify|get))/i,
    );
  });

  it("node-postgres: a host name the certificate does not carry is refused", async () => {
    const attempt = connect({ ...app, host: "127.0.0.1" });
    await expect(attempt).rejects.toThrow(
      /cannot connect to app@127\.0\.0\.1:\d+\/shop: .*(IP: 127\.0\.0\.1 is not in the cert|altnames)/i,
    );
  });

  it("pg_dump: verify-full passes with the right CA and host, fails with a wrong CA or host", async () => {
    const good = await libpq(pgDump, ["--schema-only"], app);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    expect(good.stdout).toContain("CREATE TABLE public.orders");
    const wrongCa = await libpq(pgDump, ["--schema-only"], { ...app, sslrootcert: stack.certs?.otherCaFile ?? "" });
    expect(wrongCa.code).not.toBe(0);
    expect(wrongCa.stderr).toMatch(/certificate verify failed/);
    const wrongHost = await libpq(pgDump, ["--schema-only"], { ...app, host: "127.0.0.1" });
    expect(wrongHost.code).not.toBe(0);
    expect(wrongHost.stderr).toMatch(/server certificate for "localhost".* does not match host name "127\.0\.0\.1"/);
  });

  it("pg_restore: verify-full passes with the right CA, fails with a wrong CA or host", async () => {
    const file = join(stack.dir, "shop.dump");
    expect((await libpq(pgDump, ["-Fc", "-f", file], app)).code).toBe(0);
    const target = { ...app, database: "shop_restored" };
    const wrongCa = await libpq(pgRestore, ["-d", "shop_restored", "--no-owner", file], {
      ...target,
      sslrootcert: stack.certs?.otherCaFile ?? "",
    });
    expect(wrongCa.code).not.toBe(0);
    expect(wrongCa.stderr).toMatch(/certificate verify failed/);
    const wrongHost = await libpq(pgRestore, ["-d", "shop_restored", "--no-owner", file], {
      ...target,
      host: "127.0.0.1",
    });
    expect(wrongHost.stderr).toMatch(/does not match host name "127\.0\.0\.1"/);
    const good = await libpq(pgRestore, ["-d", "shop_restored", "--no-owner", file], target);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    const client = await connect(target);
    try {
      expect((await client.query("select count(*)::int as n from orders")).rows[0]).toEqual({ n: 2 });
    } finally {
      await client.end();
    }
  });

  it("backup end to end: the catalogue's default verify-full with OPS_PG_CA_BUNDLE and PGPASSWORD succeeds; the wrong CA fails", async () => {
    const certs = stack.certs;
    if (!certs) throw new Error("no certs");
    const env = {
      SHOP_URL: `postgres://app@${certs.hostname}:${stack.postgres.port}/shop`,
      PGPASSWORD: PASSWORD,
      OPS_PG_CA_BUNDLE: certs.caFile,
      PATH: process.env.PATH,
    };
    const good = await backupRunbook.run(
      testContext({ system: shop(), clients: stack.clients, env, now: () => new Date() }),
      {
        force: true,
        minIntervalMinutes: 60,
      },
    );
    expect(good.actions[0]?.reason ?? "").toBe("");
    expect(good.status).toBe("succeeded");
    const wrong = await backupRunbook.run(
      testContext({
        system: shop(),
        clients: stack.clients,
        env: { ...env, OPS_PG_CA_BUNDLE: certs.otherCaFile },
        now: () => new Date(),
      }),
      { force: true, minIntervalMinutes: 60 },
    );
    expect(wrong.status).toBe("failed");
    expect(wrong.actions[0]?.reason).toMatch(
      /cannot connect to app@localhost:\d+\/shop: .*(self-signed|unable to (verify|get))/i,
    );
    // Without OPS_PG_CA_BUNDLE the bundled RDS CAs are used, which did not sign this server's certificate.
    const { OPS_PG_CA_BUNDLE: _unused, ...rdsOnly } = env;
    const rds = await backupRunbook.run(
      testContext({ system: shop(), clients: stack.clients, env: rdsOnly, now: () => new Date() }),
      {
        force: true,
        minIntervalMinutes: 60,
      },
    );
    expect(rds.status).toBe("failed");
    expect(JSON.stringify([good, wrong, rds])).not.toContain(PASSWORD);
  }, 120_000);
});
