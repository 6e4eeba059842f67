import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { z } from "zod";
import type { Database } from "../../systems/schema.js";
import { errorMessage, PrerequisiteError, ValidationError } from "../errors.js";

/** How to reach a PostgreSQL database. `password` never goes into argv or a log. */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** libpq sslmode; RDS connections default to `require`. */
  sslmode?: string;
}

/** `user@host:port/db` — safe to log and report. */
export function describeConnection(conn: PgConnection): string {
  return `${conn.user}@${conn.host}:${conn.port}/${conn.database}`;
}

/** Parses a postgres:// URL; the error never echoes the URL (it may hold a password). */
export function parseDatabaseUrl(url: string, fallbackDatabase?: string): PgConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ValidationError("database URL is not a valid URL (expected postgres://user:password@host:port/db)", [], {
      cause: error,
    });
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new ValidationError(`database URL scheme "${parsed.protocol}" is not allowed; use postgres://`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || fallbackDatabase;
  if (!database) throw new ValidationError("database URL names no database (postgres://user@host:port/<db>)");
  const sslmode = parsed.searchParams.get("sslmode");
  return {
    host: parsed.hostname || "localhost",
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username) || "postgres",
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    database,
    ...(sslmode ? { sslmode } : {}),
  };
}

const rdsSecretSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().positive().default(5432),
  dbname: z.string().optional(),
});

/** Options of {@link resolveConnection}. */
export interface ResolveConnectionOptions {
  database: Database;
  secrets: SecretsManagerClient;
  env: Readonly<Record<string, string | undefined>>;
  /** A URL given on the command line (`--database-url`), overriding the catalogue. */
  overrideUrl?: string;
}

/**
 * Finds a database's connection: an override URL, else the catalogue's source — an RDS-format secret
 * in Secrets Manager ({username, password, host, port, dbname}) or an environment variable URL.
 */
export async function resolveConnection(options: ResolveConnectionOptions): Promise<PgConnection> {
  const { database } = options;
  if (options.overrideUrl) return parseDatabaseUrl(options.overrideUrl, database.database);
  const source = database.credentials;
  if (source.source === "env") {
    const url = options.env[source.variable];
    if (!url) {
      throw new PrerequisiteError(
        `database "${database.id}" reads its URL from $${source.variable}, which is not set (or pass --database-url)`,
      );
    }
    return parseDatabaseUrl(url, database.database);
  }
  let secretString: string | undefined;
  try {
    const secret = await options.secrets.send(new GetSecretValueCommand({ SecretId: source.secretId }));
    secretString = secret.SecretString;
  } catch (error) {
    throw new PrerequisiteError(`cannot read secret "${source.secretId}": ${errorMessage(error)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(secretString ?? "");
  } catch (error) {
    throw new PrerequisiteError(`secret "${source.secretId}" is not JSON in the RDS format`, { cause: error });
  }
  const parsed = rdsSecretSchema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join(".")).join(", ");
    throw new PrerequisiteError(
      `secret "${source.secretId}" lacks RDS-format fields (${fields}); expected {username, password, host, port, dbname}`,
    );
  }
  return {
    host: parsed.data.host,
    port: parsed.data.port,
    user: parsed.data.username,
    password: parsed.data.password,
    database: database.database,
    sslmode: "require",
  };
}

/** libpq environment for a child process: the password travels here, never on the command line. */
export function libpqEnv(conn: PgConnection): Record<string, string> {
  return {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: conn.database,
    ...(conn.password ? { PGPASSWORD: conn.password } : {}),
    ...(conn.sslmode ? { PGSSLMODE: conn.sslmode } : {}),
    PGCONNECT_TIMEOUT: "15",
    PGAPPNAME: "ops-autopilot",
  };
}
