import type { S3Client } from "@aws-sdk/client-s3";
import { errorMessage, PrerequisiteError, RunbookError, ValidationError } from "../../lib/errors.js";
import {
  describeConnection,
  type PgConnection,
  parseDatabaseUrl,
  pgpassLookup,
  urlHasPassword,
} from "../../lib/postgres/connection.js";
import type { RestoreResult } from "../../lib/postgres/restore.js";
import { connect } from "../../lib/postgres/server.js";
import { chooseTool, createPgTools, findTools, type PgTool, parseToolVersion } from "../../lib/postgres/tools.js";
import { parseSettings } from "../../lib/settings.js";
import { formatLocal } from "../../lib/timezone.js";
import { checkAllBackups } from "../../runbooks/backup/catalog.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { restoreBackup } from "../../runbooks/backup/restore-directory.js";
import { type Fleet, findSystem } from "../../systems/index.js";
import type { Database, System } from "../../systems/schema.js";
import { type CliIo, EXIT, writeJson } from "../io.js";
import { parseTimeOption } from "../time.js";
import { backupStore, formatBytes, formatUtc, plural, selectDatabases } from "./backups.js";

/** Options of {@link restoreCommand}. */
export interface RestoreOptions {
  system: string;
  /** The catalogue id; may be left out when the system has one database. */
  database?: string;
  /** A backup's key (or its last part: `20261201T115000Z.dump`, `20261201T115000Z`). */
  backup?: string;
  /** The newest verified backup taken at or before this time. */
  at?: string;
  /** `postgres://user@host:port/db`, or for a system on the embedded stack just a database name. */
  target: string;
  dryRun: boolean;
  force: boolean;
  json: boolean;
  signal?: AbortSignal;
}

/** A backup that may be restored: verified, with its manifest. */
export interface ChosenBackup {
  key: string;
  takenAt: Date;
  manifest: Manifest;
}

type Candidate = { key: string; takenAt: Date; check: { state: string; reason?: string; manifest?: Manifest } };

/** `--backup` names this key: whole, by its last part, or by its timestamp (a custom dump or a directory). */
function namesBackup(key: string, wanted: string): boolean {
  return key === wanted || [`/${wanted}`, `/${wanted}.dump`, `/${wanted}.dir`].some((end) => key.endsWith(end));
}

/**
 * Which backup a restore takes (pure): the one `--backup` names, else the newest verified one taken at
 * or before `--at`, else the newest verified one. Only verified backups restore: a dump without a good
 * manifest has no checksum to hold it to.
 */
export function chooseBackup(backups: Candidate[], options: { backup?: string; at?: Date }): ChosenBackup {
  if (options.backup !== undefined && options.at !== undefined) {
    throw new ValidationError("give --backup KEY or --at TIME, not both");
  }
  const verified = backups.filter((b) => b.check.state === "verified" && b.check.manifest);
  if (options.backup !== undefined) return pick(backupNamed(backups, options.backup));
  if (options.at !== undefined) return pick(newestAtOrBefore(verified, options.at));
  const newest = verified.at(-1);
  if (!newest) throw new ValidationError("this database has no verified backup to restore (see `ops backups`)");
  return pick(newest);
}

const pick = (b: Candidate): ChosenBackup => ({
  key: b.key,
  takenAt: b.takenAt,
  manifest: b.check.manifest as Manifest,
});

/** The backup `--backup` names by its key or the key's last part; it must be verified. */
function backupNamed(backups: Candidate[], wanted: string): Candidate {
  const found = backups.find((b) => namesBackup(b.key, wanted));
  if (!found) {
    const newest = backups.slice(-3).map((b) => b.key);
    throw new ValidationError(
      `no backup "${wanted}" in this database's folder; newest: ${newest.join(", ") || "(none)"} (see \`ops backups\`)`,
    );
  }
  if (found.check.state !== "verified") {
    throw new ValidationError(
      `backup ${found.key} is not verified (${found.check.reason ?? found.check.state}): only verified backups are restored`,
    );
  }
  return found;
}

/** The newest verified backup taken at or before `at` (oldest first in `verified`). */
function newestAtOrBefore(verified: Candidate[], at: Date): Candidate {
  const chosen = verified.filter((b) => b.takenAt.getTime() <= at.getTime()).at(-1);
  if (!chosen) {
    const oldest = verified[0];
    throw new ValidationError(
      `no verified backup was taken at or before ${at.toISOString()}${oldest ? `; the oldest is from ${oldest.takenAt.toISOString()}` : ""}`,
    );
  }
  return chosen;
}

/**
 * The target's connection: a URL, or for a system on the embedded stack a bare database name on the
 * stack's server. The password comes from the URL (warned about), PGPASSWORD or `.pgpass`, as for
 * `--database-url`; TLS is verify-full unless the URL opts out for a database on this machine.
 */
export function targetConnection(io: CliIo, system: System, database: Database, target: string): PgConnection {
  let conn: PgConnection;
  if (!target.includes("://")) {
    const source = database.credentials;
    const stackUrl = !system.deploy && source.source === "env" ? io.env[source.variable] : undefined;
    if (!stackUrl || !/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(target)) {
      throw new ValidationError(
        `--target "${target}" is not a database URL: use postgres://user@host:port/database (a bare database name works only for a system on the embedded stack)`,
      );
    }
    conn = { ...parseDatabaseUrl(stackUrl), database: target };
  } else {
    conn = parseDatabaseUrl(target);
    if (urlHasPassword(target)) {
      io.err.write(
        "warning: --target carries a password, which other users of this machine can read in the process list; " +
          "leave it out of the URL and set PGPASSWORD or a ~/.pgpass line instead\n",
      );
    }
  }
  const password = conn.password || io.env.PGPASSWORD || pgpassLookup(conn, io.env);
  return password ? { ...conn, password } : conn;
}

/** What the target holds now. */
export interface TargetState {
  exists: boolean;
  /** Tables, views, sequences and indexes outside the system schemas. */
  objects: number;
  server?: { major: number; version: string };
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Whether the target database exists, how much it holds and its server's version (reads only). */
export async function inspectTarget(conn: PgConnection): Promise<TargetState> {
  let client: Awaited<ReturnType<typeof connect>>;
  try {
    client = await connect(conn);
  } catch (error) {
    // 3D000: the server is there, the database is not: a restore creates it.
    if ((error as { cause?: { code?: string } }).cause?.code !== "3D000") throw error;
    const admin = await connect(conn, "postgres");
    try {
      return { exists: false, objects: 0, server: await versionOf(admin) };
    } finally {
      await admin.end().catch(() => {});
    }
  }
  try {
    const result = await client.query<{ n: string }>(
      `select count(*)::text as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
         and n.nspname not like 'pg\\_temp%'`,
    );
    return { exists: true, objects: Number(result.rows[0]?.n ?? 0), server: await versionOf(client) };
  } finally {
    await client.end().catch(() => {});
  }
}

async function versionOf(client: Awaited<ReturnType<typeof connect>>): Promise<{ major: number; version: string }> {
  const result = await client.query<{ num: string; text: string }>(
    "select current_setting('server_version_num') as num, current_setting('server_version') as text",
  );
  const num = Number(result.rows[0]?.num ?? 0);
  return { major: Math.floor(num / 10_000), version: String(result.rows[0]?.text ?? "").split(" ")[0] ?? "" };
}

async function createTarget(conn: PgConnection): Promise<void> {
  const admin = await connect(conn, "postgres");
  try {
    // template0: a dump restores into it without clashing with whatever template1 holds.
    await admin.query(`create database ${quoteIdent(conn.database)} template template0`);
  } catch (error) {
    throw new RunbookError(`cannot create database ${conn.database}: ${errorMessage(error)}`, { cause: error });
  } finally {
    await admin.end().catch(() => {});
  }
}

/** The plan of a restore, as the dry run and the report show it. */
function describePlan(
  system: System,
  chosen: ChosenBackup,
  conn: PgConnection,
  state: TargetState,
  tool: string,
): string[] {
  const into = !state.exists
    ? "a new database (created first)"
    : state.objects === 0
      ? "an empty database"
      : `a database holding ${plural(state.objects, "object")}, replacing what the backup holds (--force: pg_restore --clean)`;
  return [
    `backup   s3://${chosen.manifest.bucket}/${chosen.key}`,
    `taken    ${formatLocal(chosen.takenAt, system.timezone)} (${formatUtc(chosen.takenAt)}), ${formatBytes(chosen.manifest.bytes)}`,
    `sha256   ${chosen.manifest.sha256} (checked while streaming)`,
    `versions pg_dump ${chosen.manifest.pgDumpVersion}, source server ${chosen.manifest.serverVersion}; target server ${state.server?.version ?? "?"}`,
    `target   ${describeConnection(conn)}: ${into}`,
    `with     ${tool}`,
  ];
}

function progressWriter(io: CliIo, total: number, show: boolean) {
  const line = io.progress;
  if (!show || !line) return { onBytes: undefined, clear: () => {} };
  return {
    onBytes: (bytes: number) =>
      line.show(
        `restoring: ${formatBytes(bytes)} of ${formatBytes(total)} ${Math.round((bytes / Math.max(1, total)) * 100)}%`,
      ),
    clear: () => line.clear(),
  };
}

/** Why a finished restore cannot be trusted, if it cannot. */
function restoreProblem(result: RestoreResult, manifest: Manifest): string | undefined {
  if (!result.checksumOk) {
    return `the restored bytes do not match the manifest (sha256 ${result.sha256}, ${result.bytes} bytes; expected ${manifest.sha256}, ${manifest.bytes} bytes): the target holds a restore of a corrupt dump, do not use it`;
  }
  if (result.exitCode !== 0) {
    return `pg_restore exited ${result.exitCode ?? result.exitSignal}: ${result.errors.slice(0, 5).join(" | ") || "no error text"}`;
  }
  return undefined;
}

/**
 * `ops restore --system S --database D [--backup KEY | --at TIME] --target URL [--dry-run] [--force]`:
 * restores a verified backup into a database you name, streaming it through sha256 into pg_restore.
 * A target that holds anything is refused unless `--force`; a target that does not exist is created.
 */
export async function restoreCommand(io: CliIo, fleet: Fleet, options: RestoreOptions): Promise<number> {
  const system = findSystem(fleet, options.system);
  const database = restoreDatabase(system, options.database);
  if (options.backup !== undefined && options.at !== undefined) {
    throw new ValidationError("give --backup KEY or --at TIME, not both");
  }
  const conn = targetConnection(io, system, database, options.target);
  const at =
    options.at === undefined
      ? undefined
      : parseTimeOption("at", options.at, { timezone: system.timezone, now: io.now() });
  const store = backupStore(io, system);
  const chosen = await chooseFromBucket(io, { store, system, database, backup: options.backup, at });
  const state = await inspectTarget(conn);
  const tool = await restoreTool(io, state, chosen.manifest);
  const plan = describePlan(system, chosen, conn, state, `pg_restore ${tool.version} (${tool.path})`);
  if (state.objects > 0 && !options.force) {
    throw new PrerequisiteError(
      `target ${describeConnection(conn)} is not empty (${plural(state.objects, "table, view, sequence or index", "tables, views, sequences or indexes")}): ` +
        "restore into a new or empty database, or pass --force to replace the objects the backup holds",
    );
  }
  const summary = restoreSummary({ system, database, chosen, conn, state, tool });
  if (options.dryRun) {
    if (options.json) writeJson(io, { ...summary, dryRun: true });
    else io.out.write(`dry run: would restore\n${plan.map((l) => `  ${l}`).join("\n")}\nnothing was changed\n`);
    return EXIT.ok;
  }
  if (!state.exists) await createTarget(conn);
  const result = await runRestore(io, { store, chosen, tool, conn, state, options });
  const problem = restoreProblem(result, chosen.manifest);
  if (options.json) writeJson(io, restoreOutcome(summary, result, problem));
  else {
    io.out.write(`${plan.map((l) => `  ${l}`).join("\n")}\n`);
    io.out.write(
      problem
        ? `[FAILED] ${problem}\n`
        : `[OK] restored ${plural(result.tablesCreated, "table")} (${formatBytes(result.bytes)}, sha256 verified) into ${describeConnection(conn)} in ${(result.durationMs / 1000).toFixed(1)} s\n`,
    );
  }
  return problem ? EXIT.failed : EXIT.ok;
}

/** Reads and checks the database's backups, then picks the one the options name (see {@link chooseBackup}). */
async function chooseFromBucket(
  io: CliIo,
  args: {
    store: { s3: S3Client; bucket: string; prefix: string };
    system: System;
    database: Database;
    backup: string | undefined;
    at: Date | undefined;
  },
): Promise<ChosenBackup> {
  const { store, system, database, backup, at } = args;
  const listing = await checkAllBackups(store.s3, {
    bucket: store.bucket,
    prefix: store.prefix,
    system: system.id,
    database: database.id,
    now: io.now(),
  });
  return chooseBackup(listing.checked, {
    ...(backup !== undefined ? { backup } : {}),
    ...(at ? { at } : {}),
  });
}

/** A pg_restore at least as new as both the target server and the pg_dump that wrote the backup. */
async function restoreTool(io: CliIo, state: TargetState, manifest: Manifest): Promise<PgTool> {
  const dumpMajor = parseToolVersion(`(PostgreSQL) ${manifest.pgDumpVersion}`)?.major ?? 0;
  const needed = Math.max(state.server?.major ?? 0, dumpMajor);
  const tools = await findTools({
    name: "pg_restore",
    extraDirs: (io.env.OPS_PG_BIN_DIRS ?? "").split(":").filter(Boolean),
    path: io.env.PATH ?? "",
  });
  return chooseTool(tools, { major: needed, version: String(needed) }, "pg_restore");
}

/** What a restore is about to do, as `--json` prints it (dry run or not). */
function restoreSummary(args: {
  system: System;
  database: Database;
  chosen: ChosenBackup;
  conn: PgConnection;
  state: TargetState;
  tool: PgTool;
}) {
  const { system, database, chosen, conn, state, tool } = args;
  return {
    system: system.id,
    database: database.id,
    backup: {
      key: chosen.key,
      takenAt: chosen.takenAt.toISOString(),
      bytes: chosen.manifest.bytes,
      sha256: chosen.manifest.sha256,
    },
    target: {
      connection: describeConnection(conn),
      existed: state.exists,
      objects: state.objects,
      server: state.server?.version,
    },
    pgRestore: { path: tool.path, version: tool.version },
  };
}

/** Streams the chosen backup into pg_restore, with a progress line on a terminal. */
async function runRestore(
  io: CliIo,
  args: {
    store: { s3: S3Client; bucket: string };
    chosen: ChosenBackup;
    tool: PgTool;
    conn: PgConnection;
    state: TargetState;
    options: RestoreOptions;
  },
): Promise<RestoreResult> {
  const { store, chosen, tool, conn, state, options } = args;
  const progress = progressWriter(io, chosen.manifest.bytes, Boolean(io.err.isTTY) && !options.json);
  try {
    // A directory backup is downloaded and checked file by file, then restored with pg_restore -j.
    return await restoreBackup(chosen.manifest, {
      s3: store.s3,
      bucket: store.bucket,
      tool,
      conn,
      mode: "stream",
      jobs: chosen.manifest.jobs ?? 1,
      tempDir: parseSettings(io.env).tempDir,
      clean: options.force && state.objects > 0,
      baseEnv: io.env,
      // pg_restore of a directory backup, started as a runbook's would be (libpq's environment only).
      pgTools: createPgTools({ extraDirs: [], path: io.env.PATH ?? "", env: io.env }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(progress.onBytes ? { onBytes: progress.onBytes } : {}),
    });
  } finally {
    progress.clear();
  }
}

/** The summary with what the restore did, as `--json` prints it. */
function restoreOutcome(
  summary: ReturnType<typeof restoreSummary>,
  result: RestoreResult,
  problem: string | undefined,
) {
  return {
    ...summary,
    dryRun: false,
    status: problem ? "failed" : "restored",
    bytes: result.bytes,
    sha256: result.sha256,
    checksumOk: result.checksumOk,
    exitCode: result.exitCode,
    tablesCreated: result.tablesCreated,
    tablesLoaded: result.tablesLoaded,
    durationMs: result.durationMs,
    ...(problem ? { problem, errors: result.errors } : {}),
  };
}

function restoreDatabase(system: System, id: string | undefined): Database {
  if (id !== undefined) return selectDatabases(system, id)[0] as Database;
  const [only, ...more] = system.databases;
  if (!only || more.length) {
    throw new ValidationError(
      `ops restore needs --database D: system "${system.id}" has ${system.databases.length ? `several (${system.databases.map((d) => d.id).join(", ")})` : "none"}`,
    );
  }
  return only;
}
