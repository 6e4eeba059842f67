import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { z } from "zod";
import type { Database } from "../../systems/schema.js";
import { errorMessage, PrerequisiteError, ValidationError } from "../errors.js";
import { assertTlsAllowed, caBundlePath, parseSslMode, rdsCaBundleFile, type SslMode } from "./tls.js";

/** How to reach a PostgreSQL database. `password` never goes into argv or a log. */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** TLS; absent means `verify-full` (see {@link SslMode}). */
  sslmode?: SslMode;
  /** PEM file of the CAs `verify-full` trusts; absent: the bundled Amazon RDS CAs. */
  sslrootcert?: string;
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
    ...(sslmode ? { sslmode: parseSslMode(sslmode) } : {}),
  };
}

/** True when a database URL carries a password (the CLI warns: argv is visible to `ps`). */
export function urlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== "";
  } catch {
    return false;
  }
}

/** The variables that replace one database's connection for a run (the CLI's `--database-url`). */
export const OVERRIDE_URL = "OPS_DATABASE_URL";
/** `<system>/<database>`: the one database {@link OVERRIDE_URL} replaces. */
export const OVERRIDE_TARGET = "OPS_DATABASE_ID";

/** The override in an environment, checked for one system: the URL and the database it replaces. */
export interface DatabaseOverride {
  database: string;
  url: string;
}

/**
 * Reads {@link OVERRIDE_URL}/{@link OVERRIDE_TARGET} for a system. An override replaces exactly one
 * database, named with its system, so a URL exported in a shell cannot be dumped as another system's
 * (or another database's) backup. Throws when the pair is incomplete or names what does not exist.
 */
export function databaseOverride(
  env: Readonly<Record<string, string | undefined>>,
  system: { id: string; databases: readonly { id: string }[] },
): DatabaseOverride | undefined {
  const url = env[OVERRIDE_URL];
  const target = env[OVERRIDE_TARGET];
  if (!url && !target) return undefined;
  const ids = system.databases.map((d) => d.id);
  const expected = `${OVERRIDE_TARGET}=<system>/<database> (for this run: ${ids.map((id) => `${system.id}/${id}`).join(", ") || "none"})`;
  if (!url) throw new ValidationError(`${OVERRIDE_TARGET} is set without ${OVERRIDE_URL}; set both or neither`);
  if (!target) {
    throw new ValidationError(`${OVERRIDE_URL} replaces one database and must name it: set ${expected}`);
  }
  const [systemId, databaseId, ...rest] = target.split("/");
  if (!systemId || !databaseId || rest.length > 0) {
    throw new ValidationError(`${OVERRIDE_TARGET}="${target}" is not <system>/<database>; set ${expected}`);
  }
  if (systemId !== system.id) {
    throw new ValidationError(
      `${OVERRIDE_TARGET}="${target}" names system "${systemId}" but this run is for "${system.id}"; set ${expected}`,
    );
  }
  if (!ids.includes(databaseId)) {
    throw new ValidationError(
      `${OVERRIDE_TARGET}="${target}": system "${system.id}" has no database "${databaseId}"; known databases: ${ids.join(", ") || "(none)"}`,
    );
  }
  return { database: databaseId, url };
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
  /**
   * The system the database belongs to: with it, an override ({@link databaseOverride}) naming this
   * database replaces the catalogue's source. Without it no override applies.
   */
  system?: { id: string; databases: readonly { id: string }[] };
}

/**
 * Finds a database's connection: the override naming this database, else the catalogue's source — an
 * RDS-format secret in Secrets Manager ({username, password, host, port, dbname}) or an environment
 * variable URL. A URL without a password takes it from the catalogue's `passwordVariable`, `PGPASSWORD`
 * or the `.pgpass` file, in that order. TLS is the catalogue's (`verify-full` unless a local database
 * opts out), checked before anything connects.
 */
export async function resolveConnection(options: ResolveConnectionOptions): Promise<PgConnection> {
  const base = await baseConnection(options);
  return withTls(withPassword(base, options), options);
}

async function baseConnection(options: ResolveConnectionOptions): Promise<PgConnection> {
  const { database } = options;
  const override = options.system ? databaseOverride(options.env, options.system) : undefined;
  if (override && override.database === database.id) return parseDatabaseUrl(override.url, database.database);
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
  };
}

/** The password of a URL that has none: the catalogue's variable, PGPASSWORD, then `.pgpass`. */
function withPassword(conn: PgConnection, options: ResolveConnectionOptions): PgConnection {
  if (conn.password) return conn;
  const source = options.database.credentials;
  const fromVariable = source.source === "env" && source.passwordVariable ? options.env[source.passwordVariable] : "";
  const password = fromVariable || options.env.PGPASSWORD || pgpassLookup(conn, options.env);
  return password ? { ...conn, password } : conn;
}

/**
 * The catalogue decides TLS; a URL may repeat it or ask for more (`sslmode=verify-full`), never less:
 * a URL's `sslmode=disable` for a database the catalogue has verify-full for is refused.
 */
function withTls(conn: PgConnection, options: ResolveConnectionOptions): PgConnection {
  const { database } = options;
  const catalogue: SslMode = database.tls.mode;
  if (conn.sslmode === "disable" && catalogue !== "disable") {
    throw new PrerequisiteError(
      `database "${database.id}" is verified with TLS (verify-full) but its URL asks sslmode=disable: for a ` +
        'database on this machine, opt out in the catalogue (tls: {mode: "disable", reason}); else drop sslmode',
    );
  }
  const sslmode = conn.sslmode ?? catalogue;
  const resolved: PgConnection =
    sslmode === "disable" ? { ...conn, sslmode } : { ...conn, sslmode, sslrootcert: caBundlePath(options.env) };
  assertTlsAllowed(resolved, `database "${database.id}"`);
  return resolved;
}

/** One line of a `.pgpass` file split on unescaped colons, with `\:` and `\\` unescaped. */
function pgpassFields(line: string): string[] {
  const fields: string[] = [];
  let current = "";
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "\\" && i + 1 < line.length) current += line[++i];
    else if (ch === ":") {
      fields.push(current);
      current = "";
    } else current += ch;
  }
  fields.push(current);
  return fields;
}

/**
 * The password `.pgpass` gives a connection (`PGPASSFILE`, else `$HOME/.pgpass`), as libpq reads it:
 * `host:port:database:user:password`, `*` matches anything, the first matching line wins, and a file that
 * others can read is ignored. node-postgres and pg_dump then use the same password.
 */
export function pgpassLookup(
  conn: PgConnection,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const file = env.PGPASSFILE || (env.HOME ? join(env.HOME, ".pgpass") : undefined);
  if (!file) return undefined;
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) return undefined;
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const wanted = [conn.host, String(conn.port), conn.database, conn.user];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.startsWith("#")) continue;
    const fields = pgpassFields(line);
    if (fields.length < 5) continue;
    if (wanted.every((value, i) => fields[i] === "*" || fields[i] === value)) return fields.slice(4).join(":");
  }
  return undefined;
}

/**
 * libpq environment for a child process: the password travels here, never on the command line. TLS is
 * always stated (PGSSLMODE, PGSSLROOTCERT) so an inherited variable or `~/.postgresql/root.crt` cannot
 * weaken or change it.
 */
export function libpqEnv(conn: PgConnection): Record<string, string> {
  return {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: conn.database,
    ...(conn.password ? { PGPASSWORD: conn.password } : {}),
    ...tlsEnv(conn),
    PGCONNECT_TIMEOUT: "15",
    PGAPPNAME: "ops-autopilot",
  };
}

/** PGSSLMODE/PGSSLROOTCERT of a connection: verify-full against its CA file unless it is a local opt-out. */
function tlsEnv(conn: PgConnection): Record<string, string> {
  assertTlsAllowed(conn, describeConnection(conn));
  if (conn.sslmode === "disable") return { PGSSLMODE: "disable" };
  return { PGSSLMODE: "verify-full", PGSSLROOTCERT: conn.sslrootcert ?? rdsCaBundleFile() };
}
