import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type pg from "pg";
import type { Database, System } from "../../systems/schema.js";
import {
  type CheckRole,
  type CheckRoleLabel,
  createCheckRole,
  dropCheckRole,
  dropCheckRolesOfDrill,
  type FoundCheckRole,
  listCheckRoles,
} from "./check-role.js";
import { type CheckResult, type Expectations, type ExpectedTable, readTableStats, validateRestored } from "./checks.js";
import { type PgConnection, resolveConnection } from "./connection.js";
import {
  createScratchDatabase,
  dropScratchDatabase,
  listScratchDatabases,
  type ScratchDatabase,
  serverMajor,
} from "./scratch.js";
import { connect, listByPrefix, readServerInfo, type ServerInfo } from "./server.js";
import { exportSnapshot, type HeldSnapshot } from "./snapshot.js";

/**
 * PostgreSQL as a runbook reaches it (`ctx.postgres`): every connection, query and scratch database goes
 * through here, so a unit test can replace the server with a fake and a runbook never opens a socket,
 * reads a secret or an environment variable of its own.
 */
export interface PostgresPort {
  /**
   * The connection of a catalogue database: the run's override naming it (the CLI's `--database-url`),
   * else its secret or environment URL; the password from the catalogue's variable, PGPASSWORD or
   * `.pgpass`; TLS as the catalogue says, checked before anything connects.
   */
  resolve(database: Database, system?: System): Promise<PgConnection>;
  /** An open client on the connection's database (or `database`); the caller ends it. */
  connect(conn: PgConnection, database?: string): Promise<pg.Client>;
  /** Version, size and the largest tables of the connection's database. */
  serverInfo(conn: PgConnection, tableLimit?: number): Promise<ServerInfo>;
  /** The server's major and version (e.g. 15, "15.18"). */
  serverVersion(conn: PgConnection): Promise<{ major: number; version: string }>;
  /** A read-only REPEATABLE READ transaction holding an exported snapshot (for `pg_dump --snapshot`). */
  exportSnapshot(conn: PgConnection): Promise<HeldSnapshot>;
  /** Databases or roles by name prefix, with their COMMENT: what a drill created and its janitor finds. */
  listByPrefix(
    server: PgConnection,
    kind: "database" | "role",
    prefix: string,
  ): Promise<{ name: string; comment: string | null }[]>;
  /** Scratch databases (`drill_…`) on a drill target: create (labelled), drop (idempotent), list. */
  scratch: {
    create(server: PgConnection, name: string, comment: string): Promise<void>;
    drop(server: PgConnection, name: string): Promise<"dropped" | "absent">;
    list(server: PgConnection): Promise<ScratchDatabase[]>;
  };
  /**
   * Validates a restored database: table count and row counts as `conn`, the catalogue's custom checks
   * as the drill's own read-only check role (created here, never the admin), one result per check.
   */
  validate(conn: PgConnection, expectations: Expectations): Promise<CheckResult[]>;
  /** Table count and the largest tables with planner estimates of a live database (an RDS drill's source). */
  tableStats(conn: PgConnection, limit: number): Promise<{ tableCount: number; tables: ExpectedTable[] }>;
  /** The drills' check roles (`drill_check_…`): create (labelled), list, drop one, drop those of a drill. */
  checkRoles: {
    create(admin: PgConnection, label: CheckRoleLabel): Promise<CheckRole>;
    list(server: PgConnection): Promise<FoundCheckRole[]>;
    drop(server: PgConnection, name: string): Promise<"dropped" | "absent">;
    dropOfDrill(server: PgConnection, drillId: string): Promise<number>;
  };
}

/** Options of {@link createPostgresPort}. */
export interface PostgresPortOptions {
  /** Secrets Manager, for RDS-format secrets. */
  secrets: SecretsManagerClient;
  /**
   * The environment the edge passes on for connection sources the catalogue names by variable (a
   * database URL, a password variable, PGPASSWORD, `.pgpass`) and the run's override. Read here, in the
   * adapter, and nowhere in a runbook.
   */
  env: Readonly<Record<string, string | undefined>>;
}

/** The real port: node-postgres over verified TLS, the catalogue's connection sources. */
export function createPostgresPort(options: PostgresPortOptions): PostgresPort {
  return {
    resolve: (database, system) =>
      resolveConnection({ database, secrets: options.secrets, env: options.env, ...(system ? { system } : {}) }),
    connect: (conn, database) => connect(conn, database),
    serverInfo: (conn, tableLimit) => readServerInfo(conn, tableLimit),
    serverVersion: (conn) => serverMajor(conn),
    exportSnapshot: (conn) => exportSnapshot(conn),
    listByPrefix: (server, kind, prefix) => listByPrefix(server, kind, prefix),
    scratch: {
      create: (server, name, comment) => createScratchDatabase(server, name, comment),
      drop: (server, name) => dropScratchDatabase(server, name),
      list: (server) => listScratchDatabases(server),
    },
    validate: (conn, expectations) => validateRestored(conn, expectations),
    tableStats: (conn, limit) => readTableStats(conn, limit),
    checkRoles: {
      create: (admin, label) => createCheckRole(admin, label),
      list: (server) => listCheckRoles(server),
      drop: (server, name) => dropCheckRole(server, name),
      dropOfDrill: (server, drillId) => dropCheckRolesOfDrill(server, drillId),
    },
  };
}
