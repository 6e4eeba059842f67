import type { S3Client } from "@aws-sdk/client-s3";
import { clientsForSystem } from "../../lib/aws/clients.js";
import { UnknownNameError, ValidationError } from "../../lib/errors.js";
import { parseSettings } from "../../lib/settings.js";
import { plural } from "../../lib/text.js";
import { formatLocal } from "../../lib/timezone.js";
import { type CheckedBackup, checkAllBackups } from "../../runbooks/backup/catalog.js";
import { decideRetention, type RetentionDecision } from "../../runbooks/backup/retention.js";
import { type Fleet, findSystem } from "../../systems/index.js";
import type { Database, System } from "../../systems/schema.js";
import { type CliIo, EXIT, writeJson } from "../io.js";

/** `8.1 MiB`, `512 B`: a size for people (binary units, as the reports use). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export { plural };

/** `2026-12-01 11:50:00 UTC`. */
export function formatUtc(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** One backup as `ops backups` shows it: its check, its manifest's facts and its retention decision. */
export interface BackupRow {
  key: string;
  takenAt: string;
  takenAtLocal: string;
  bytes: number;
  verified: boolean;
  /** `verified`, `no-manifest`, `bad-manifest`, `future`. */
  state: CheckedBackup["check"]["state"];
  /** Why it is not verified; absent when it is. */
  reason?: string;
  sha256?: string;
  pgDumpVersion?: string;
  serverVersion?: string;
  /** Whether retention keeps it, and every slot or rule that does (or why not). */
  kept: boolean;
  keptBy: string[];
}

/** The backups of one database. */
export interface DatabaseBackups {
  database: string;
  databaseName: string;
  backups: BackupRow[];
  /** Keys in the database's folder that are not backups (never counted, never deleted). */
  foreign: string[];
}

/** The system's backup bucket and the S3 client that reads it (standard clients, the stack's endpoint for the demo). */
export function backupStore(io: CliIo, system: System): { s3: S3Client; bucket: string; prefix: string } {
  const backup = system.backup;
  if (!backup) {
    throw new ValidationError(`system "${system.id}" has no backup section: it keeps no backups to list or restore`);
  }
  const { s3 } = clientsForSystem(system, { s3ForcePathStyle: parseSettings(io.env).s3ForcePathStyle });
  return { s3, bucket: backup.bucket, prefix: backup.prefix };
}

/** The databases `--database D` selects (all when absent); an unknown id lists the known ones. */
export function selectDatabases(system: System, id: string | undefined): Database[] {
  if (id === undefined) return system.databases;
  const found = system.databases.find((d) => d.id === id);
  if (!found)
    throw new UnknownNameError(
      "database",
      id,
      system.databases.map((d) => d.id),
    );
  return [found];
}

/** Joins a check with its retention decision into a row (pure). */
export function backupRow(backup: CheckedBackup, decision: RetentionDecision | undefined, system: System): BackupRow {
  const check = backup.check;
  const manifest = check.state === "verified" ? check.manifest : undefined;
  return {
    key: backup.key,
    takenAt: backup.takenAt.toISOString(),
    takenAtLocal: formatLocal(backup.takenAt, system.timezone),
    bytes: backup.bytes,
    verified: check.state === "verified",
    state: check.state,
    ...(check.state === "verified" ? {} : { reason: check.reason }),
    ...(manifest
      ? { sha256: manifest.sha256, pgDumpVersion: manifest.pgDumpVersion, serverVersion: manifest.serverVersion }
      : {}),
    kept: decision?.keep ?? true,
    keptBy: decision?.reasons ?? [],
  };
}

/** Every backup of the selected databases, checked (runbooks/backup/catalog.ts) and judged by retention. */
export async function listDatabaseBackups(
  io: CliIo,
  system: System,
  databases: Database[],
): Promise<DatabaseBackups[]> {
  const store = backupStore(io, system);
  const retention = system.backup?.retention;
  const now = io.now();
  const result: DatabaseBackups[] = [];
  for (const database of databases) {
    const listing = await checkAllBackups(store.s3, {
      bucket: store.bucket,
      prefix: store.prefix,
      system: system.id,
      database: database.id,
      now,
    });
    const decisions = retention
      ? new Map(
          decideRetention(listing.checked, { policy: retention, timezone: system.timezone, now }).map((d) => [
            d.key,
            d,
          ]),
        )
      : new Map<string, RetentionDecision>();
    result.push({
      database: database.id,
      databaseName: database.database,
      // Newest first: the one a restore takes by default is on top.
      backups: listing.checked.map((b) => backupRow(b, decisions.get(b.key), system)).reverse(),
      foreign: listing.foreign,
    });
  }
  return result;
}

/** The readable listing (pure): a block per backup, lines well under 100 columns besides the key. */
export function formatBackups(system: System, databases: DatabaseBackups[]): string {
  const retention = system.backup?.retention;
  const policy = retention
    ? `retention ${retention.keepDaily} daily, ${retention.keepWeekly} weekly, ${retention.keepMonthly} monthly`
    : "no retention";
  const lines = [
    `${system.name} (${system.id}): backups in s3://${system.backup?.bucket}/, ${policy}, zone ${system.timezone}`,
  ];
  for (const db of databases) lines.push("", ...databaseBlock(db));
  return `${lines.join("\n")}\n`;
}

/** One database's heading, then a block per backup, then what else lies in its folder. */
function databaseBlock(db: DatabaseBackups): string[] {
  const verified = db.backups.filter((b) => b.verified).length;
  const lines = [`${db.database} (${db.databaseName}): ${plural(db.backups.length, "backup")}, ${verified} verified`];
  if (db.backups.length === 0) lines.push("  none yet: `ops run backup --system <id>` takes one");
  for (const b of db.backups) lines.push(...backupBlock(b));
  if (db.foreign.length)
    lines.push(`  ${plural(db.foreign.length, "other object")} in the folder, not backups (left alone)`);
  return lines;
}

/** One backup: when, size and verdict on the first line; key, checksum, versions and retention below. */
function backupBlock(b: BackupRow): string[] {
  const state = b.verified ? "verified" : `NOT verified: ${b.reason}`;
  const lines = [
    `  ${b.takenAtLocal}  (${formatUtc(new Date(b.takenAt))})  ${formatBytes(b.bytes)}  ${state}`,
    `    key       ${b.key}`,
  ];
  if (b.sha256) lines.push(`    sha256    ${b.sha256}`);
  if (b.pgDumpVersion) lines.push(`    versions  pg_dump ${b.pgDumpVersion}, server ${b.serverVersion}`);
  lines.push(`    ${b.kept ? "kept by " : "not kept"}  ${b.keptBy.join("; ") || "—"}`);
  return lines;
}

/** Options of {@link backupsCommand}: `ops backups --system S [--database D] [--json]`. */
export interface BackupsOptions {
  system: string;
  database?: string;
  json: boolean;
}

/** `ops backups`: each backup with its times, size, verification, checksum, versions and retention slot. */
export async function backupsCommand(io: CliIo, fleet: Fleet, options: BackupsOptions): Promise<number> {
  const system = findSystem(fleet, options.system);
  const databases = selectDatabases(system, options.database);
  const listed = await listDatabaseBackups(io, system, databases);
  if (options.json) writeJson(io, { system: system.id, timezone: system.timezone, databases: listed });
  else io.out.write(formatBackups(system, listed));
  return EXIT.ok;
}
