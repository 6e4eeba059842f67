import { RunbookError } from "../../lib/errors.js";
import { describeConnection, type PgConnection } from "../../lib/postgres/connection.js";
import type { RestoreMode } from "../../lib/postgres/restore.js";
import type { ScratchDatabase } from "../../lib/postgres/scratch.js";
import { type PgTool, parseToolVersion } from "../../lib/postgres/tools.js";
import { plural } from "../../lib/text.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { drillId, formatDrillComment, scratchDatabaseName } from "./names.js";
import type { DrillSettings } from "./settings.js";

/**
 * The pg_dump drill's decisions, pure: which backup, which server, which scratch name and deadline,
 * stream or download, or why not to drill at all. `pg-drill.ts` reads what they need and `apply.ts`
 * carries the plan out; a dry run reports the plan and stops.
 */

/** Grace after a drill's own deadline before the janitor may drop its database (it cleans up itself first). */
export const JANITOR_GRACE_MS = 5 * 60_000;

/**
 * From this size on, a dump restores faster downloaded (parallel ranged GETs, hashed as the parts land)
 * then `pg_restore -j` than streamed into one pg_restore: `bench/drill.ts` measured it at 10 MB and at
 * 280 MB of dump on two cores. Below it the difference is noise and streaming needs no disk.
 */
export const DOWNLOAD_MODE_MIN_BYTES = 4 * 1024 * 1024;

/** Options of {@link chooseRestoreMode}. */
export interface RestoreModeChoice {
  setting: DrillSettings["restoreMode"];
  bytes: number;
  jobs: number;
  /** Free bytes where the temp file would go; undefined when unknown. */
  freeBytes?: number | undefined;
}

/**
 * `auto` → download for large dumps when there is more than one core and room for the file (Lambda's
 * /tmp is 512 MB unless configured), else stream.
 */
export function chooseRestoreMode(choice: RestoreModeChoice): RestoreMode {
  if (choice.setting !== "auto") return choice.setting;
  const room = choice.freeBytes === undefined || choice.freeBytes > choice.bytes * 1.1 + DOWNLOAD_MODE_MIN_BYTES;
  return choice.bytes >= DOWNLOAD_MODE_MIN_BYTES && choice.jobs > 1 && room ? "download" : "stream";
}

/** Where a pg_dump drill creates its scratch database, and how that was decided (for the report). */
export interface DrillTarget {
  conn: PgConnection;
  from: "dr.drill.target" | "dr.drill.allowSourceServer";
}

/** A pg_dump drill has no drill target of its own: it refuses to fall back to the production server. */
export class DrillTargetError extends RunbookError {}

const serverOf = (conn: PgConnection) => `${conn.host.toLowerCase()}:${conn.port}`;

/** What {@link chooseDrillTarget} decides from. */
export interface DrillTargetFacts {
  /** `system "…" database "…"`, for the error. */
  where: string;
  settings: Pick<DrillSettings, "target" | "allowSourceServer">;
  /** The resolved `dr.drill.target`, when the catalogue names one. */
  target?: PgConnection | undefined;
  /** The database's own (production) server, when it could be resolved. */
  production?: PgConnection | undefined;
}

/**
 * The drill target server: the catalogue's `dr.drill.target`, or — only with the explicit opt-in
 * `dr.drill.allowSourceServer` (the embedded demo) — the database's own server. Never a silent fallback
 * to production: without either, or with a target that is the database's own server without the opt-in,
 * throws {@link DrillTargetError} naming the field to set.
 */
export function chooseDrillTarget(facts: DrillTargetFacts): DrillTarget {
  const { where, settings, target, production } = facts;
  if (!settings.target || !target) {
    if (settings.allowSourceServer && production) return { conn: production, from: "dr.drill.allowSourceServer" };
    throw new DrillTargetError(
      `${where}: a pg_dump drill needs a drill target server distinct from production; set dr.drill.target ` +
        `in the catalogue ({source: "secrets-manager", secretId} or {source: "env", variable}, an admin of a ` +
        "scratch server that may create databases and roles), or dr.drill.allowSourceServer: true to drill on the " +
        "database's own server (local stacks only)",
    );
  }
  // A target that is the production server under another name is the same hole: refuse it too. When the
  // source cannot be resolved, it cannot be where the drill goes either.
  if (!settings.allowSourceServer && production && serverOf(production) === serverOf(target)) {
    throw new DrillTargetError(
      `${where}: dr.drill.target points at the database's own server (${serverOf(target)}); give it a separate ` +
        "scratch server, or set dr.drill.allowSourceServer: true to allow this on purpose",
    );
  }
  return { conn: target, from: "dr.drill.target" };
}

/** The pg_restore major a drill needs: one that reads the archive (≥ the pg_dump that wrote it) and suits the target. */
export function restoreToolMajor(targetMajor: number, pgDumpVersion: string): number {
  const dumpMajor = parseToolVersion(`(PostgreSQL) ${pgDumpVersion}`)?.major ?? 0;
  return Math.max(targetMajor, dumpMajor);
}

/** What a pg_dump drill read before deciding. */
export interface PgDrillSnapshot {
  system: string;
  database: string;
  bucket: string;
  /** How many dumps the listing found (with or without a manifest). */
  dumps: number;
  /** The newest backup whose manifest verifies; undefined when there is none. */
  newest?: Manifest | undefined;
  /** The rest is read only when there is a backup to restore. */
  target?: DrillTarget;
  targetServer?: { major: number; version: string };
  /** The `drill_…` databases already on the target. */
  scratch?: readonly ScratchDatabase[];
  /** The pg_restore {@link restoreToolMajor} chose. */
  tool?: PgTool;
  /** Expected restore time (read only when the run has a deadline). */
  estimateMs?: number | undefined;
  /** Free bytes in the temp directory (read only for `restoreMode: auto`). */
  freeBytes?: number | undefined;
  /** The run's own deadline (Lambda), when it has one. */
  runDeadline?: Date | undefined;
  /**
   * Where the drill runs when not here (`placement.ts`, decided before the target is read): the Fargate
   * task, or nowhere this time. Absent: here, and the target was read.
   */
  placement?: { where: "task" | "skip"; reason: string } | undefined;
  /** Warnings known before the plan (the RPO source). */
  warnings: readonly string[];
}

/** A drill that is not carried out, and how the report shows it. */
export interface PgDrillSkip {
  kind: "skip";
  /** `failed` (no backup: the drill's own finding, recorded) or `skipped` (a duplicate, no time). */
  status: "failed" | "skipped";
  /** The report action the reason goes on. */
  action: "restore" | "restore-drill";
  reason: string;
  /** True when a real run saves a failed drill record for it. */
  record: boolean;
}

/** A drill to carry out: every name, time and choice made. */
export interface PgDrillSteps {
  kind: "drill";
  drillId: string;
  system: string;
  database: string;
  manifest: Manifest;
  target: DrillTarget;
  tool: PgTool;
  scratchName: string;
  scratchConn: PgConnection;
  /** When the drill stops itself. */
  deadline: Date;
  /** The deadline in the scratch database's COMMENT and the check role's: the janitor's, with grace. */
  janitorDeadline: Date;
  comment: string;
  mode: RestoreMode;
  jobs: number;
  warnings: string[];
  /** The plan as a person reads it (the `after` of create-scratch-database and the dry run). */
  description: Record<string, string | number>;
  /** The validation the drill will run, in words. */
  validation: string;
}

/** A drill that does not fit this function: the Fargate task takes it, with the drill's claim. */
export interface PgDrillHandOff {
  kind: "hand-off";
  reason: string;
}

/** The plan of one database's pg_dump drill. */
export type PgDrillPlan = PgDrillSkip | PgDrillHandOff | PgDrillSteps;

/** Rule 3: a drill of this database still within its deadline means this run is a duplicate. */
function inFlightDrill(snapshot: PgDrillSnapshot, now: Date): ScratchDatabase | undefined {
  return snapshot.scratch?.find(
    (d) =>
      d.comment?.system === snapshot.system &&
      d.comment.database === snapshot.database &&
      new Date(d.comment.deadline).getTime() > now.getTime(),
  );
}

/** Rule 4: a restore that cannot finish before the run's deadline is not started; the reason when so. */
function noTimeReason(snapshot: PgDrillSnapshot, now: Date): string | undefined {
  const { runDeadline, estimateMs } = snapshot;
  if (!runDeadline || estimateMs === undefined || now.getTime() + estimateMs <= runDeadline.getTime()) return undefined;
  return (
    `estimated restore time ${Math.round(estimateMs / 1000)} s exceeds the ${Math.round((runDeadline.getTime() - now.getTime()) / 1000)} s ` +
    "left before the deadline; run it as a plain process (`ops run restore-drill`, e.g. a Fargate task)"
  );
}

/** A target older than the source may fail the restore for that reason alone: say so up front. */
function olderTargetWarning(manifest: Manifest, targetServer: { major: number; version: string }): string[] {
  const sourceMajor = Number.parseInt(manifest.serverVersion, 10);
  if (!Number.isFinite(sourceMajor) || targetServer.major >= sourceMajor) return [];
  return [
    `drill target runs PostgreSQL ${targetServer.version}, older than the source's ${manifest.serverVersion}: the restore may fail for that reason alone`,
  ];
}

const skip = (status: PgDrillSkip["status"], action: PgDrillSkip["action"], reason: string, record = false) =>
  ({ kind: "skip", status, action, reason, record }) as const;

/**
 * The pg_dump drill of one database, in the order the rules apply:
 * 1. no backup with a valid manifest → the drill fails (recorded: a system without a restorable backup
 *    is exactly what a drill exists to find);
 * 2. a drill that does not fit this function (`placement.ts`: runOn fargate, a directory backup larger
 *    than its disk, download and restore over its budget) → the Fargate task, or skipped with the numbers
 *    when no task can take it; decided before anything connects to the target;
 * 3. a drill of this database in flight on the target → skipped (at-least-once delivery);
 * 4. the estimated restore does not fit before the run's deadline → skipped (it would only time out);
 * 5. else: a scratch database named after the drill, its deadline in its COMMENT, stream or download.
 */
export function planPgDumpDrill(snapshot: PgDrillSnapshot, settings: DrillSettings, now: Date): PgDrillPlan {
  const manifest = snapshot.newest;
  if (!manifest) {
    return skip(
      "failed",
      "restore",
      `no backup with a valid manifest among ${plural(snapshot.dumps, "dump")}: nothing to restore`,
      true,
    );
  }
  const { placement } = snapshot;
  if (placement?.where === "task") return { kind: "hand-off", reason: placement.reason };
  if (placement) return skip("skipped", "restore-drill", placement.reason);
  const { target, targetServer, tool } = snapshot;
  if (!target || !targetServer || !tool) throw new RunbookError("planPgDumpDrill: the drill target was not read");
  const inFlight = inFlightDrill(snapshot, now);
  if (inFlight) {
    return skip(
      "skipped",
      "restore-drill",
      `drill ${inFlight.comment?.drillId} is in progress (scratch database ${inFlight.name}, deadline ${inFlight.comment?.deadline})`,
    );
  }
  const noTime = noTimeReason(snapshot, now);
  if (noTime) return skip("skipped", "restore-drill", noTime);
  return drillSteps({ snapshot, settings, now, manifest, target, tool, targetServer });
}

interface StepsInput {
  snapshot: PgDrillSnapshot;
  settings: DrillSettings;
  now: Date;
  manifest: Manifest;
  target: DrillTarget;
  tool: PgTool;
  targetServer: { major: number; version: string };
}

function drillSteps(input: StepsInput): PgDrillSteps {
  const { snapshot, settings, now, manifest, target, tool } = input;
  const id = drillId(snapshot.system, snapshot.database, now);
  const scratchName = scratchDatabaseName(snapshot.system, snapshot.database, now);
  const deadline = new Date(
    Math.min(
      now.getTime() + settings.deadlineMinutes * 60_000,
      snapshot.runDeadline?.getTime() ?? Number.POSITIVE_INFINITY,
    ),
  );
  const janitorDeadline = new Date(deadline.getTime() + JANITOR_GRACE_MS);
  const mode = chooseRestoreMode({
    setting: settings.restoreMode,
    bytes: manifest.bytes,
    jobs: settings.jobs,
    freeBytes: snapshot.freeBytes,
  });
  return {
    kind: "drill",
    drillId: id,
    system: snapshot.system,
    database: snapshot.database,
    manifest,
    target,
    tool,
    scratchName,
    scratchConn: { ...target.conn, database: scratchName },
    deadline,
    janitorDeadline,
    comment: formatDrillComment({
      drillId: id,
      system: snapshot.system,
      database: snapshot.database,
      startedAt: now.toISOString(),
      deadline: janitorDeadline.toISOString(),
    }),
    mode,
    jobs: settings.jobs,
    warnings: [...snapshot.warnings, ...olderTargetWarning(manifest, input.targetServer)],
    description: {
      drillId: id,
      backup: `s3://${snapshot.bucket}/${manifest.key}`,
      bytes: manifest.bytes,
      takenAt: manifest.startedAt,
      target: `${describeConnection(target.conn)} (${target.from})`,
      scratchDatabase: scratchName,
      deadline: deadline.toISOString(),
      pgRestore: `${tool.version} (${tool.path})`,
      mode: mode === "download" ? `download, then pg_restore -j ${settings.jobs}` : "stream into pg_restore",
      checks: settings.checks.length,
      ...(snapshot.estimateMs !== undefined ? { estimatedSeconds: Math.round(snapshot.estimateMs / 1000) } : {}),
    },
    validation: `table count, row counts of ${plural(Math.min(settings.tableLimit, manifest.tables.length), "table")}, ${plural(settings.checks.length, "custom check")}`,
  };
}
