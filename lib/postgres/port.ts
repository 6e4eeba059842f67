import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type pg from "pg";
import type { Database, System } from "../../systems/schema.js";
import {
  createScratchDatabase,
  dropScratchDatabase,
  listScratchDatabases,
  type ScratchDatabase,
  serverMajor,
} from "../drill/scratch.js";
import { type PgConnection, resolveConnection } from "./connection.js";
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
  };
}
