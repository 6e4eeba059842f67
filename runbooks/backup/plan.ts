import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { describeConnection, type PgConnection } from "../../lib/postgres/connection.js";
import type { ServerInfo } from "../../lib/postgres/server.js";
import type { PgTool } from "../../lib/postgres/tools.js";
import type { Settings } from "../../lib/settings.js";
import { type DumpFormat, dumpFormatOf } from "../../systems/dump-format.js";
import type { Database, System } from "../../systems/schema.js";
import type { CheckedBackup, VerifiedBackup } from "./catalog.js";
import { backupKeyFor } from "./dump-directory.js";
import { backupTaskRequest, backupTaskSettings, decidePlacement, type PlacementInput } from "./handoff.js";

/** Dump rate assumed before any backup has been measured (bytes of database per ms ≈ 20 MB/s). */
export const DEFAULT_RATE_BYTES_PER_MS = 20_000;

/** The runbook's input, as the plan reads it. */
export interface BackupOptions {
  database?: string | undefined;
  force: boolean;
  minIntervalMinutes: number;
  compression?: number | undefined;
}

/** The database's server as the read step found it: only read when the plan asks for it. */
export interface ServerFacts {
  conn: PgConnection;
  info: ServerInfo;
  /** The pg_dump chosen for this server's major. */
  tool: PgTool;
}

/**
 * What the read step found for one database, the same in a dry run: the S3 listing's newest verified
 * backup and the newer dumps passed over, the claim this run holds, and (second pass) the server.
 */
export interface BackupSnapshot {
  database: Database;
  newest: VerifiedBackup | undefined;
  passedOver: CheckedBackup[];
  /** The claim this run holds (`dry-run` as holder in a dry run): the task takes it over by holder. */
  claim: { holder: string; key: string };
  server?: ServerFacts;
}

/** What the plan decides from besides the snapshot: the system, the run's input and the process settings. */
export interface BackupPlanSettings {
  system: System;
  options: BackupOptions;
  task: Settings["task"];
  /** The run's deadline (a Lambda's); absent for a plain process. */
  deadline?: Date;
  runId?: string;
}

/** A dump newer than the newest verified backup that is not counted, with why (reported `ignore-backup`). */
export interface PassedOverNote {
  key: string;
  reason: string;
}

/** What pg_dump will be run with, and the figures a person checks in a dry run. */
export interface DumpStep {
  kind: "dump";
  bucket: string;
  key: string;
  kmsKeyId?: string;
  compression: number;
  /** `custom` (one object at `key`) or `directory` (`pg_dump -Fd -j`, the files below `key/`). */
  format: DumpFormat;
  estimateMs: number;
  server: ServerFacts;
  /** The report's `after`: where, from what, with which pg_dump, in which format, how big, how long. */
  shown: {
    key: string;
    source: string;
    serverVersion: string;
    pgDump: string;
    compression: number;
    format: string;
    databaseBytes: number;
    estimatedSeconds: number;
  };
}

/** The RunTask request for the Fargate task, and what the report shows of it. */
export interface HandOffStep {
  kind: "hand-off";
  reason: string;
  request: RunTaskCommandInput;
  shown: { cluster?: string | undefined; taskDefinition?: string | undefined; command?: string[] | undefined };
}

/** One database's step: nothing (and why), read the server first, hand off, or dump here. */
export type BackupStep =
  | { kind: "skip"; reason: string; before?: { key: string } }
  | { kind: "read-server" }
  | HandOffStep
  | DumpStep;

/** The plan of one database: the dumps passed over (always reported), the step, and the estimate if made. */
export interface BackupPlan {
  resource: string;
  notes: PassedOverNote[];
  step: BackupStep;
  estimateMs?: number;
}

/** Why a passed-over dump does not count; a future-dated one says a clock is wrong. */
function passedOverNotes(passedOver: CheckedBackup[]): PassedOverNote[] {
  return passedOver.flatMap((b) => {
    if (b.check.state === "verified") return [];
    const why =
      b.check.state === "future"
        ? `${b.check.reason} (a clock is wrong here or where it was written)`
        : `unverified (${b.check.reason})`;
    return [{ key: b.key, reason: `not counted as the newest backup: ${why}` }];
  });
}

/** Rule 1: a verified backup younger than `minIntervalMinutes` makes the run a no-op, unless forced. */
function freshEnough(snapshot: BackupSnapshot, options: BackupOptions, now: Date): BackupStep | undefined {
  const previous = snapshot.newest;
  if (!previous || options.force) return undefined;
  const ageMs = now.getTime() - previous.backup.takenAt.getTime();
  if (ageMs >= options.minIntervalMinutes * 60_000) return undefined;
  return {
    kind: "skip",
    reason: `a verified backup from ${previous.manifest.finishedAt} is younger than ${options.minIntervalMinutes} min (force=true to take another)`,
    before: { key: previous.backup.key },
  };
}

/** The measured rate of the previous backup, else the default. */
function dumpRate(newest: VerifiedBackup | undefined): number {
  return newest && newest.manifest.durationMs > 0
    ? newest.manifest.databaseBytes / newest.manifest.durationMs
    : DEFAULT_RATE_BYTES_PER_MS;
}

function handOff(snapshot: BackupSnapshot, settings: BackupPlanSettings, reason: string): HandOffStep {
  const task = backupTaskSettings(settings.system, settings.task);
  if (!("settings" in task)) throw new Error(`internal: placed on a task without one (${task.noTask})`);
  const { options } = settings;
  const request = backupTaskRequest({
    system: settings.system,
    database: snapshot.database,
    settings: task.settings,
    claim: snapshot.claim,
    force: options.force,
    ...(options.compression !== undefined ? { compression: options.compression } : {}),
    ...(settings.runId ? { runId: settings.runId } : {}),
  });
  return {
    kind: "hand-off",
    reason,
    request,
    shown: {
      cluster: request.cluster,
      taskDefinition: request.taskDefinition,
      command: request.overrides?.containerOverrides?.[0]?.command,
    },
  };
}

function dumpStep(
  settings: BackupPlanSettings,
  at: { database: Database; server: ServerFacts; estimateMs: number; now: Date },
): DumpStep {
  const { server, estimateMs } = at;
  const { system } = settings;
  const backup = system.backup;
  if (!backup) throw new Error(`internal: system "${system.id}" has no backup section`);
  const compression = settings.options.compression ?? backup.compression;
  const format = dumpFormatOf(at.database);
  const key = backupKeyFor(format, { prefix: backup.prefix, system: system.id, database: at.database.id, at: at.now });
  return {
    kind: "dump",
    bucket: backup.bucket,
    key,
    ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
    compression,
    format,
    estimateMs,
    server,
    shown: {
      key: `s3://${backup.bucket}/${key}`,
      source: describeConnection(server.conn),
      serverVersion: server.info.version,
      pgDump: `${server.tool.version} (${server.tool.path})`,
      compression,
      format: format.format === "directory" ? `directory, pg_dump -j ${format.jobs}` : "custom",
      databaseBytes: server.info.databaseBytes,
      estimatedSeconds: Math.round(estimateMs / 1000),
    },
  };
}

/** What the placement is decided from before the server is read: the catalogue, the budget, the task, the disk. */
function placementInputOf(database: Database, settings: BackupPlanSettings, now: Date): PlacementInput {
  const task = backupTaskSettings(settings.system, settings.task);
  const format = dumpFormatOf(database);
  return {
    runOn: database.backupRunOn ?? settings.system.backup?.runOn ?? "auto",
    ...(settings.deadline ? { budgetMs: settings.deadline.getTime() - now.getTime() } : {}),
    ...("noTask" in task ? { noTask: task.noTask } : {}),
    ...(format.format === "directory" ? { needsDisk: `directory format (pg_dump -Fd -j ${format.jobs})` } : {}),
  };
}

/**
 * The backup rules for one database, in order (runbooks/backup/backup.md): passed-over dumps are noted;
 * a fresh enough verified backup skips; then the placement ({@link decidePlacement}) — here, the task, or
 * a skip with the numbers — first without the server, then with its size once read; here means a dump
 * to the key of `now`. Pure: the same snapshot, settings and clock give the same plan.
 */
export function planBackup(snapshot: BackupSnapshot, settings: BackupPlanSettings, now: Date): BackupPlan {
  const resource = `${settings.system.id}/${snapshot.database.id}`;
  const notes = passedOverNotes(snapshot.passedOver);
  const fresh = freshEnough(snapshot, settings.options, now);
  if (fresh) return { resource, notes, step: fresh };
  const placementInput = placementInputOf(snapshot.database, settings, now);
  const { server } = snapshot;
  let estimateMs: number | undefined;
  if (server) {
    const rate = dumpRate(snapshot.newest);
    estimateMs = Math.round(server.info.databaseBytes / Math.max(rate, 1));
    Object.assign(placementInput, { estimateMs, databaseBytes: server.info.databaseBytes, rateBytesPerMs: rate });
  }
  const placement = decidePlacement(placementInput);
  const withEstimate = estimateMs === undefined ? {} : { estimateMs };
  switch (placement.where) {
    case "skip":
      return { resource, notes, step: { kind: "skip", reason: placement.reason }, ...withEstimate };
    case "task":
      return { resource, notes, step: handOff(snapshot, settings, placement.reason), ...withEstimate };
    case "estimate":
      return { resource, notes, step: { kind: "read-server" } };
    default:
      if (!server || estimateMs === undefined) return { resource, notes, step: { kind: "read-server" } };
      return {
        resource,
        notes,
        step: dumpStep(settings, { database: snapshot.database, server, estimateMs, now }),
        estimateMs,
      };
  }
}
