import pg from "pg";
import { errorMessage, PrerequisiteError } from "../errors.js";
import { describeConnection, type PgConnection } from "./connection.js";
import { assertTlsAllowed, rdsCaBundleFile, readCa } from "./tls.js";

/** What a backup needs to know about the server before dumping. */
export interface ServerInfo {
  /** e.g. 150018 */
  versionNum: number;
  major: number;
  /** e.g. "15.18" */
  version: string;
  databaseBytes: number;
  /** Largest tables by size, with row-count estimates from the planner's statistics. */
  tables: TableEstimate[];
}

export interface TableEstimate {
  schema: string;
  name: string;
  rowsEstimate: number;
  bytes: number;
}

/**
 * node-postgres' `ssl` for a connection: verify-full (the CA chain, and the host name or IP against the
 * certificate — Node's default identity check) unless the connection is a local opt-out. Always stated,
 * so PGSSLMODE in the process environment cannot change it.
 */
export function sslOptions(conn: PgConnection): false | { ca: string; rejectUnauthorized: true } {
  assertTlsAllowed(conn, describeConnection(conn));
  if (conn.sslmode === "disable") return false;
  return { ca: readCa(conn.sslrootcert ?? rdsCaBundleFile()), rejectUnauthorized: true };
}

/** Opens a client with the connection's credentials, over verified TLS unless it is a local opt-out. */
export async function connect(conn: PgConnection, database = conn.database): Promise<pg.Client> {
  const client = new pg.Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    database,
    connectionTimeoutMillis: 15_000,
    application_name: "ops-autopilot",
    ...(conn.password ? { password: conn.password } : {}),
    ssl: sslOptions(conn),
  });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new PrerequisiteError(
      `cannot connect to ${describeConnection({ ...conn, database })}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  return client;
}

/** Reads version, size and the largest tables of the connection's database. */
export async function readServerInfo(conn: PgConnection, tableLimit = 10): Promise<ServerInfo> {
  const client = await connect(conn);
  try {
    const version = await client.query<{ num: string; text: string; size: string }>(
      "select current_setting('server_version_num') as num, current_setting('server_version') as text, pg_database_size(current_database())::text as size",
    );
    const row = version.rows[0];
    const versionNum = Number(row?.num);
    return {
      versionNum,
      major: Math.floor(versionNum / 10_000),
      version: String(row?.text ?? "").split(" ")[0] ?? "",
      databaseBytes: Number(row?.size ?? 0),
      tables: await largestTables(client, tableLimit),
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/** The user tables of the connected database, largest first, with the planner's row estimates. */
export async function largestTables(client: pg.Client, limit: number): Promise<TableEstimate[]> {
  const result = await client.query<{ schema: string; name: string; rows: string; bytes: string }>(
    `select n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::bigint::text as rows,
            pg_total_relation_size(c.oid)::text as bytes
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg_toast%'
      order by pg_total_relation_size(c.oid) desc limit $1`,
    [limit],
  );
  return result.rows.map((t) => ({
    schema: t.schema,
    name: t.name,
    rowsEstimate: Number(t.rows),
    bytes: Number(t.bytes),
  }));
}

/** The two kinds of cluster-wide object a drill leaves behind and names by prefix. */
const SHARED_OBJECTS = {
  database: { table: "pg_database", column: "datname", catalog: "pg_database" },
  role: { table: "pg_roles", column: "rolname", catalog: "pg_authid" },
} as const;

/**
 * Every database or role whose name starts with `prefix`, with its COMMENT as stored (the caller parses
 * it): how the drill and its janitor find what a drill created.
 */
export async function listByPrefix(
  server: PgConnection,
  kind: keyof typeof SHARED_OBJECTS,
  prefix: string,
): Promise<{ name: string; comment: string | null }[]> {
  const { table, column, catalog } = SHARED_OBJECTS[kind];
  const client = await connect(server);
  try {
    const result = await client.query<{ name: string; comment: string | null }>(
      `select ${column} as name, shobj_description(oid, '${catalog}') as comment
         from ${table} where starts_with(${column}, $1) order by ${column}`,
      [prefix],
    );
    return result.rows;
  } finally {
    await client.end().catch(() => {});
  }
}
