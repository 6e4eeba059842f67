import { X509Certificate } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { createRuntime } from "../../functions/runtime.js";
import { PrerequisiteError, ValidationError } from "../../lib/errors.js";
import {
  databaseOverride,
  libpqEnv,
  parseDatabaseUrl,
  pgpassLookup,
  resolveConnection,
} from "../../lib/postgres/connection.js";
import { sslOptions } from "../../lib/postgres/server.js";
import { rdsCaBundle } from "../../lib/postgres/tls.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { type Database, type System, systemSchema } from "../../systems/schema.js";
import { tempDirs } from "../helpers/files.js";

const tempDir = tempDirs("ops-pg-");

const secrets = new SecretsManagerClient({ region: "us-east-1" });

/** A system with two databases read from environment URLs. */
function twoDatabases(tls?: Database["tls"]): System {
  return systemSchema.parse({
    id: "shop",
    name: "Shop",
    account: { region: "us-east-1" },
    timezone: "UTC",
    runtime: { kind: "none", reason: "test" },
    databases: ["orders", "users"].map((id) => ({
      id,
      engine: "postgres",
      engineVersion: "16",
      database: id,
      credentials: { source: "env", variable: `${id.toUpperCase()}_URL`, passwordVariable: `${id.toUpperCase()}_PW` },
      ...(tls ? { tls } : {}),
    })),
    backup: { bucket: "shop-backups", prefix: "pg_dump", retention: { keepDaily: 7 } },
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: false, reason: "test" },
  });
}

const shop = twoDatabases();
const [orders, users] = shop.databases as [Database, Database];

describe("TLS to PostgreSQL", () => {
  it("the bundled CAs are Amazon RDS's, for every region the fleet runs in, and valid today", () => {
    const pems = rdsCaBundle().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const certs = pems.map((pem) => new X509Certificate(pem));
    const now = new Date("2026-12-01T00:00:00Z");
    for (const region of ["af-south-1", "ap-south-1", "us-east-1"]) {
      const roots = certs.filter(
        (c) => c.subject.includes(`Amazon RDS ${region} Root CA`) && new Date(c.validTo) > now && c.ca,
      );
      expect(roots.length, region).toBeGreaterThanOrEqual(1);
    }
  });

  it("a database without a tls field is verify-full, for node-postgres and for pg_dump", async () => {
    const conn = await resolveConnection({
      database: orders,
      secrets,
      env: { ORDERS_URL: "postgres://app@db.internal/orders" },
    });
    expect(conn.sslmode).toBe("verify-full");
    expect(libpqEnv(conn)).toMatchObject({ PGSSLMODE: "verify-full", PGSSLROOTCERT: conn.sslrootcert });
    expect(sslOptions(conn)).toMatchObject({ rejectUnauthorized: true });
  });

  it("a connection that names no sslmode is still verified (never `require`, never rejectUnauthorized: false)", () => {
    const conn = parseDatabaseUrl("postgres://app@drill-target.internal/postgres");
    expect(sslOptions(conn)).toMatchObject({ rejectUnauthorized: true });
    expect(libpqEnv(conn).PGSSLMODE).toBe("verify-full");
  });

  it("sslmode values that do not verify the server are refused, naming what is allowed", () => {
    for (const mode of ["require", "verify-ca", "prefer", "allow"]) {
      expect(() => parseDatabaseUrl(`postgres://app@db.internal/x?sslmode=${mode}`)).toThrow(ValidationError);
      expect(() => parseDatabaseUrl(`postgres://app@db.internal/x?sslmode=${mode}`)).toThrow(
        /use sslmode=verify-full .* sslmode=disable/,
      );
    }
  });

  it("an opt-out holds for a database on this machine only", async () => {
    const local = twoDatabases({ mode: "disable", reason: "embedded server" }).databases[0] as Database;
    const here = await resolveConnection({
      database: local,
      secrets,
      env: { ORDERS_URL: "postgres://app@127.0.0.1:5433/orders" },
    });
    expect(here.sslmode).toBe("disable");
    expect(sslOptions(here)).toBe(false);
    expect(libpqEnv(here).PGSSLMODE).toBe("disable");
    const there = resolveConnection({
      database: local,
      secrets,
      env: { ORDERS_URL: "postgres://app@db.example.com/orders" },
    });
    await expect(there).rejects.toThrow(PrerequisiteError);
    await expect(there).rejects.toThrow(/allowed only for a database on this machine .* its host is db\.example\.com/);
    // Whatever built the connection, nothing sends it in clear to another machine.
    const remote = { host: "db.example.com", port: 5432, user: "u", database: "d", sslmode: "disable" as const };
    expect(() => sslOptions(remote)).toThrow(PrerequisiteError);
    expect(() => libpqEnv(remote)).toThrow(PrerequisiteError);
  });

  it("a URL cannot switch TLS off for a database the catalogue verifies", async () => {
    const attempt = resolveConnection({
      database: orders,
      secrets,
      env: { ORDERS_URL: "postgres://app@127.0.0.1/orders?sslmode=disable" },
    });
    await expect(attempt).rejects.toThrow(/verified with TLS \(verify-full\) but its URL asks sslmode=disable/);
  });

  it("OPS_PG_CA_BUNDLE replaces the bundle; a missing or empty file fails with the setting's name", async () => {
    const dir = await tempDir();
    const good = join(dir, "ca.pem");
    await writeFile(good, `${rdsCaBundle().split("-----END CERTIFICATE-----")[0]}-----END CERTIFICATE-----\n`);
    const env = { ORDERS_URL: "postgres://app@db.internal/orders" };
    const conn = await resolveConnection({ database: orders, secrets, env: { ...env, OPS_PG_CA_BUNDLE: good } });
    expect(conn.sslrootcert).toBe(good);
    expect(libpqEnv(conn).PGSSLROOTCERT).toBe(good);
    const missing = resolveConnection({
      database: orders,
      secrets,
      env: { ...env, OPS_PG_CA_BUNDLE: join(dir, "nope.pem") },
    });
    await expect(missing).rejects.toThrow(/OPS_PG_CA_BUNDLE=.*nope\.pem cannot be read \(ENOENT\)/);
    const empty = join(dir, "empty.pem");
    await writeFile(empty, "not a certificate\n");
    const notPem = resolveConnection({ database: orders, secrets, env: { ...env, OPS_PG_CA_BUNDLE: empty } });
    await expect(notPem).rejects.toThrow(/holds no PEM certificate/);
    // A function fails at cold start, before any event, when the setting points nowhere.
    expect(() => createRuntime({}, { OPS_PG_CA_BUNDLE: join(dir, "nope.pem") })).toThrow(/OPS_PG_CA_BUNDLE=/);
    expect(() => createRuntime({}, { OPS_PG_CA_BUNDLE: good })).not.toThrow();
  });
});

describe("passwords come from the environment or .pgpass", () => {
  const url = "postgres://app@db.internal:5432/orders";

  it("the catalogue's password variable, then PGPASSWORD, then .pgpass; a URL's own password first", async () => {
    const dir = await tempDir();
    const pgpass = join(dir, "pgpass");
    await writeFile(pgpass, "# comment\nother.host:*:*:app:nope\ndb.internal:5432:orders:app:from\\:pgpass\n");
    await chmod(pgpass, 0o600);
    const base = { ORDERS_URL: url, PGPASSFILE: pgpass };
    const resolve = (env: Record<string, string>) => resolveConnection({ database: orders, secrets, env });
    expect((await resolve(base)).password).toBe("from:pgpass");
    expect((await resolve({ ...base, PGPASSWORD: "from-pgpassword" })).password).toBe("from-pgpassword");
    expect((await resolve({ ...base, PGPASSWORD: "from-pgpassword", ORDERS_PW: "per-db" })).password).toBe("per-db");
    expect(
      (await resolve({ ...base, ORDERS_URL: "postgres://app:inline@db.internal/orders", ORDERS_PW: "per-db" }))
        .password,
    ).toBe("inline");
    // The password travels to pg_dump in its environment, never in argv.
    expect(libpqEnv(await resolve(base)).PGPASSWORD).toBe("from:pgpass");
  });

  it(".pgpass: wildcards, first match wins, a file others can read is ignored (as libpq does)", async () => {
    const dir = await tempDir();
    const file = join(dir, ".pgpass");
    await writeFile(file, "*:*:orders:app:first\n*:*:*:*:second\n");
    await chmod(file, 0o600);
    const conn = parseDatabaseUrl(url);
    expect(pgpassLookup(conn, { HOME: dir })).toBe("first");
    expect(pgpassLookup({ ...conn, database: "users" }, { HOME: dir })).toBe("second");
    await chmod(file, 0o644);
    expect(pgpassLookup(conn, { HOME: dir })).toBeUndefined();
    expect(pgpassLookup(conn, {})).toBeUndefined();
  });
});

describe("a database URL override replaces one database", () => {
  const env = { OPS_DATABASE_URL: "postgres://me@elsewhere/orders_copy", OPS_DATABASE_ID: "shop/orders" };

  it("only the named database takes the override; the other keeps its catalogue source", async () => {
    const sourceEnv = {
      ...env,
      ORDERS_URL: "postgres://app@orders.internal/orders",
      USERS_URL: "postgres://app@users.internal/users",
    };
    const o = await resolveConnection({ database: orders, secrets, env: sourceEnv, system: shop });
    const u = await resolveConnection({ database: users, secrets, env: sourceEnv, system: shop });
    expect(o).toMatchObject({ host: "elsewhere", database: "orders_copy" });
    expect(u).toMatchObject({ host: "users.internal", database: "users" });
  });

  it("an override that names no database, another system or an unknown database is refused", () => {
    expect(() => databaseOverride({ OPS_DATABASE_URL: env.OPS_DATABASE_URL }, shop)).toThrow(
      /OPS_DATABASE_URL replaces one database and must name it: set OPS_DATABASE_ID=<system>\/<database> \(for this run: shop\/orders, shop\/users\)/,
    );
    expect(() => databaseOverride({ ...env, OPS_DATABASE_ID: "partpal-ims/main" }, shop)).toThrow(
      /names system "partpal-ims" but this run is for "shop"/,
    );
    expect(() => databaseOverride({ ...env, OPS_DATABASE_ID: "shop/typo" }, shop)).toThrow(
      /system "shop" has no database "typo"; known databases: orders, users/,
    );
    expect(() => databaseOverride({ OPS_DATABASE_ID: "shop/orders" }, shop)).toThrow(/without OPS_DATABASE_URL/);
    expect(databaseOverride({}, shop)).toBeUndefined();
  });

  it("a catalogue tls value other than verify-full or a reasoned disable is rejected, saying what is allowed", () => {
    const input = JSON.parse(JSON.stringify(shop)) as { databases: { tls: unknown }[] };
    const first = input.databases[0];
    if (!first) throw new Error("fixture");
    first.tls = { mode: "require" };
    const bad = systemSchema.safeParse(input);
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toMatch(
      /must be \{mode: \\"verify-full\\"\} or \{mode: \\"disable\\", reason\}/,
    );
    first.tls = { mode: "disable" };
    expect(systemSchema.safeParse(input).success).toBe(false);
  });

  it("the demo system opts out of TLS explicitly, with its reason", () => {
    const demo = findSystem(builtinFleet(), "demo");
    expect(demo.databases[0]?.tls).toMatchObject({ mode: "disable", reason: expect.stringMatching(/127\.0\.0\.1/) });
    const deployed = builtinFleet().systems.filter((s) => s.deploy !== false);
    expect(deployed.flatMap((s) => s.databases.map((d) => d.tls.mode))).not.toContain("disable");
  });
});
