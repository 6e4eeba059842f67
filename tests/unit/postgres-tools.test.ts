import { readFileSync } from "node:fs";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { PrerequisiteError, ValidationError } from "../../lib/errors.js";
import { libpqEnv, parseDatabaseUrl, resolveConnection } from "../../lib/postgres/connection.js";
import { sslOptions } from "../../lib/postgres/server.js";
import { rdsCaBundleFile } from "../../lib/postgres/tls.js";
import { chooseTool, type PgTool, parseToolVersion } from "../../lib/postgres/tools.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";

const tools: PgTool[] = [
  { path: "/usr/lib/postgresql/15/bin/pg_dump", version: "15.18", major: 15 },
  { path: "/opt/pg16/bin/pg_dump", version: "16.4", major: 16 },
];

describe("pg_dump selection", () => {
  it("parses the version line of the client programs", () => {
    expect(parseToolVersion("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")).toEqual({
      version: "15.18",
      major: 15,
    });
    expect(parseToolVersion("pg_restore (PostgreSQL) 17beta1")).toEqual({ version: "17", major: 17 });
    expect(parseToolVersion("bash: pg_dump: not found")).toBeUndefined();
  });

  it("picks the closest major that is not older than the server", () => {
    expect(chooseTool(tools, { major: 15, version: "15.4" }, "pg_dump").version).toBe("15.18");
    expect(chooseTool(tools, { major: 16, version: "16.1" }, "pg_dump").version).toBe("16.4");
    expect(chooseTool(tools, { major: 14, version: "14.9" }, "pg_dump").version).toBe("15.18");
  });

  it("a server newer than every pg_dump fails with both versions and how to provide one", () => {
    const attempt = () => chooseTool(tools, { major: 17, version: "17.2" }, "pg_dump");
    expect(attempt).toThrow(PrerequisiteError);
    expect(attempt).toThrow(/server runs PostgreSQL 17\.2/);
    expect(attempt).toThrow(/have: 15\.18 \(\/usr\/lib\/postgresql\/15\/bin\/pg_dump\), 16\.4/);
    expect(attempt).toThrow(/install postgresql-client-17 or set OPS_PG_BIN_DIRS/);
    expect(() => chooseTool([], { major: 15, version: "15.4" }, "pg_dump")).toThrow(/have: none found/);
  });
});

describe("database connections", () => {
  const secrets = mockClient(SecretsManagerClient);
  afterEach(() => secrets.reset());
  const partpal = findSystem(builtinFleet(), "partpal-ims");
  const database = partpal.databases[0];
  if (!database) throw new Error("fixture");

  it("reads an RDS-format secret and connects with verify-full against the bundled RDS CAs", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: "partpal-ims/rds" }).resolves({
      ARN: `arn:aws:secretsmanager:af-south-1:${ACCOUNT_ID}:secret:partpal-ims/rds-AbCdEf`,
      Name: "partpal-ims/rds",
      VersionId: "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE",
      SecretString: JSON.stringify({
        engine: "postgres",
        host: "partpal-ims-db.abc.af-south-1.rds.amazonaws.com",
        username: "partpal",
        password: "s3cr3t!",
        dbname: "partpal_ims",
        port: 5432,
      }),
      VersionStages: ["AWSCURRENT"],
      CreatedDate: new Date("2026-01-01T00:00:00Z"),
    });
    const conn = await resolveConnection({
      database,
      secrets: new SecretsManagerClient({ region: "af-south-1" }),
      env: {},
    });
    expect(conn).toEqual({
      host: "partpal-ims-db.abc.af-south-1.rds.amazonaws.com",
      port: 5432,
      user: "partpal",
      password: "s3cr3t!",
      database: "partpal_ims",
      sslmode: "verify-full",
      sslrootcert: rdsCaBundleFile(),
    });
    const env = libpqEnv(conn);
    expect(env).toMatchObject({ PGPASSWORD: "s3cr3t!", PGSSLMODE: "verify-full", PGSSLROOTCERT: rdsCaBundleFile() });
    // node-postgres gets the same CAs and rejects what does not verify.
    expect(sslOptions(conn)).toEqual({ ca: readFileSync(rdsCaBundleFile(), "utf8"), rejectUnauthorized: true });
  });

  it("a secret missing fields names them and never echoes the secret", async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ password: "hunter2" }) });
    const attempt = resolveConnection({
      database,
      secrets: new SecretsManagerClient({ region: "af-south-1" }),
      env: {},
    });
    await expect(attempt).rejects.toThrow(/lacks RDS-format fields \(username, host\)/);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
  });

  it("an override naming the database wins; a malformed URL is rejected without being echoed", async () => {
    const conn = await resolveConnection({
      database,
      secrets: new SecretsManagerClient({ region: "af-south-1" }),
      env: { OPS_DATABASE_URL: "postgres://me:pw@db.internal:6543/other", OPS_DATABASE_ID: "partpal-ims/main" },
      system: partpal,
    });
    expect(conn).toMatchObject({ host: "db.internal", port: 6543, user: "me", database: "other" });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect(() => parseDatabaseUrl("mysql://u:topsecret@h/db")).toThrow(ValidationError);
    expect(() => parseDatabaseUrl("mysql://u:topsecret@h/db")).not.toThrow(/topsecret/);
  });
});
