import { statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { z } from "zod";
import { inspectBackups } from "../../runbooks/backup/catalog.js";
import { manifestKey } from "../../runbooks/backup/layout.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { restoreBackup } from "../../runbooks/backup/restore-directory.js";
import type { ReportBuilder } from "../../runbooks/report.js";
import type { RunbookContext } from "../../runbooks/types.js";
import type { Database } from "../../systems/schema.js";
import { errorMessage, RunbookError } from "../errors.js";
import { describeConnection, type PgConnection, resolveConnection } from "../postgres/connection.js";
import { chooseTool, findTools, parseToolVersion } from "../postgres/tools.js";
import { plural } from "../text.js";
import { dropCheckRolesOfDrill } from "./check-role.js";
import { type CheckResult, type ExpectedTable, validateRestored, validationOutcome } from "./checks.js";
import { drillId, formatDrillComment, scratchDatabaseName } from "./names.js";
import { addDrillToReport, buildDrillRecord, type DrillFacts } from "./outcome.js";
import { type DrillHandOff, placeDrill } from "./placement.js";
import { type DrillRecord, listDrillRecords, readJsonObject, saveDrillRecord } from "./record.js";
import type { RestoreMode, RestoreResult } from "./restore.js";
import {
  createScratchDatabase,
  dropScratchDatabase,
  listScratchDatabases,
  ScratchExistsError,
  serverMajor,
} from "./scratch.js";
import type { DrillSettings } from "./settings.js";
import { rpoSourceWarning } from "./verdict.js";

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

/** Free bytes in a directory; undefined when it cannot be told. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const info = await statfs(dir);
    return info.bavail * info.bsize;
  } catch {
    return undefined;
  }
}

/** Where a pg_dump drill creates its scratch database, and how that was decided (for the report). */
export interface DrillTarget {
  conn: PgConnection;
  from: "dr.drill.target" | "dr.drill.allowSourceServer";
}

/** A pg_dump drill has no drill target of its own: it refuses to fall back to the production server. */
export class DrillTargetError extends RunbookError {}

const serverOf = (conn: PgConnection) => `${conn.host.toLowerCase()}:${conn.port}`;

/**
 * The drill target server: the catalogue's `dr.drill.target`, or — only with the explicit opt-in
 * `dr.drill.allowSourceServer` (the embedded demo) — the database's own server. Never a silent fallback
 * to production: without either, or with a target that is the database's own server without the opt-in,
 * throws {@link DrillTargetError} naming the field to set.
 */
export async function resolveDrillTarget(
  ctx: Pick<RunbookContext, "env" | "clients" | "system">,
  database: Database,
  settings: Pick<DrillSettings, "target" | "allowSourceServer">,
): Promise<DrillTarget> {
  const where = `system "${ctx.system.id}" database "${database.id}"`;
  const source = () => resolveConnection({ database, secrets: ctx.clients.secrets, env: ctx.env });
  if (!settings.target) {
    if (settings.allowSourceServer) return { conn: await source(), from: "dr.drill.allowSourceServer" };
    throw new DrillTargetError(
      `${where}: a pg_dump drill needs a drill target server distinct from production; set dr.drill.target ` +
        `in the catalogue ({source: "secrets-manager", secretId} or {source: "env", variable}, an admin of a ` +
        "scratch server that may create databases and roles), or dr.drill.allowSourceServer: true to drill on the " +
        "database's own server (local stacks only)",
    );
  }
  const conn = await resolveConnection({
    database: { ...database, credentials: settings.target },
    secrets: ctx.clients.secrets,
    env: ctx.env,
    system: ctx.system,
  });
  if (!settings.allowSourceServer) {
    // A target that is the production server under another name is the same hole: refuse it too. When the
    // source cannot be resolved here, it cannot be where the drill goes either.
    const production = await source().catch(() => undefined);
    if (production && serverOf(production) === serverOf(conn)) {
      throw new DrillTargetError(
        `${where}: dr.drill.target points at the database's own server (${serverOf(conn)}); give it a separate ` +
          "scratch server, or set dr.drill.allowSourceServer: true to allow this on purpose",
      );
    }
  }
  return { conn, from: "dr.drill.target" };
}

const exactTablesSchema = z.object({
  tables: z.array(
    z.looseObject({
      schema: z.string(),
      name: z.string(),
      rowsEstimate: z.number(),
      rows: z.number().int().optional(),
    }),
  ),
});

/**
 * Row-count expectations from the manifest: exact `rows` when the backup counted them in the dump's
 * snapshot, else the planner's `rowsEstimate` (compared with a tolerance).
 */
export async function expectedTables(
  ctx: Pick<RunbookContext, "clients">,
  bucket: string,
  manifest: Manifest,
  limit: number,
): Promise<ExpectedTable[]> {
  let raw: unknown;
  try {
    raw = await readJsonObject(ctx.clients.s3, bucket, manifestKey(manifest.key));
  } catch {
    raw = undefined;
  }
  const exact = exactTablesSchema.safeParse(raw);
  const tables = exact.success ? exact.data.tables : manifest.tables;
  return [...tables]
    .slice(0, limit)
    .map((t) =>
      "rows" in t && typeof t.rows === "number"
        ? { schema: t.schema, name: t.name, rows: t.rows, exact: true }
        : { schema: t.schema, name: t.name, rows: t.rowsEstimate, exact: false },
    );
}

/**
 * How long a restore of this dump should take: the last passed drill of the database scaled by dump
 * size, else twice the dump's own duration (restoring rebuilds indexes that dumping only names).
 */
export async function estimateRestoreMs(
  ctx: Pick<RunbookContext, "clients">,
  bucket: string,
  database: string,
  manifest: Pick<Manifest, "system" | "bytes" | "durationMs">,
): Promise<number> {
  try {
    const { records } = await listDrillRecords(ctx.clients.s3, { bucket, system: manifest.system, limit: 10 });
    const previous = records
      .filter((r) => r.database === database && r.outcome === "passed" && r.restoreMs !== undefined)
      .at(-1);
    const bytes = Number((previous?.restoredFrom as { bytes?: unknown } | undefined)?.bytes);
    if (previous?.restoreMs !== undefined && bytes > 0) {
      return Math.round(previous.restoreMs * (manifest.bytes / bytes));
    }
  } catch {
    // No history readable: fall back to the dump's duration.
  }
  return Math.round(manifest.durationMs * 2);
}

function restoreChecks(restore: RestoreResult, expected: { bytes: number; sha256: string }): CheckResult[] {
  const checks: CheckResult[] = [
    {
      name: "checksum",
      kind: "checksum",
      status: restore.checksumOk ? "passed" : "failed",
      expected: `sha256 ${expected.sha256.slice(0, 16)}…, ${expected.bytes} bytes`,
      actual: `sha256 ${restore.sha256.slice(0, 16)}…, ${restore.bytes} bytes`,
      ...(restore.checksumOk ? {} : { reason: "the backup's bytes do not match its manifest" }),
    },
  ];
  if (!restore.ran) {
    checks.push({
      name: "pg_restore exit status",
      kind: "restore",
      status: "skipped",
      reason: "not restored: the checksum was verified first and did not match",
    });
    return checks;
  }
  const ok = restore.exitCode === 0;
  checks.push({
    name: "pg_restore exit status",
    kind: "restore",
    status: ok ? "passed" : "failed",
    expected: "0",
    actual: restore.exitSignal ? `killed by ${restore.exitSignal}` : String(restore.exitCode),
    ...(ok ? {} : { reason: restore.errors.slice(0, 3).join(" | ") || "pg_restore failed" }),
  });
  return checks;
}

/**
 * One pg_dump drill of one database: newest backup with a manifest → scratch database (named with the
 * drill id, deadline in its COMMENT) → pg_restore with the sha256 checked on the way → validation →
 * DROP, whatever happened. Saves and returns the drill's record; undefined when it did not run (dry
 * run, a drill already in flight).
 */
export async function pgDumpDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  database: Database,
  settings: DrillSettings,
  /** How the drill goes to the Fargate task when it would not fit here (lib/drill/placement.ts). */
  handOff?: DrillHandOff,
): Promise<DrillRecord | undefined> {
  const { system } = ctx;
  const backup = system.backup;
  const resource = `${system.id}/${database.id}`;
  if (!backup) {
    report.add({ resource, action: "restore-drill", status: "skipped", reason: "no backup section in the catalogue" });
    return undefined;
  }
  const startedAt = ctx.now();
  const id = drillId(system.id, database.id, startedAt);
  const warnings = [rpoSourceWarning(system.dr)].filter((w): w is string => Boolean(w));
  const s3 = ctx.clients.s3;

  const listing = await inspectBackups(s3, {
    bucket: backup.bucket,
    prefix: backup.prefix,
    system: system.id,
    database: database.id,
    now: startedAt,
  });
  const { newest } = listing;
  const facts = (extra: Partial<DrillFacts> & Pick<DrillFacts, "checks" | "cleanup">): DrillFacts => ({
    drillId: id,
    system,
    database: database.id,
    source: "pg_dump",
    startedAt,
    finishedAt: ctx.now(),
    recoveryPointUsable: false,
    restoredFrom: {},
    scratch: "",
    warnings,
    ...extra,
  });
  const finish = async (record: DrillRecord): Promise<DrillRecord> => {
    if (!ctx.dryRun) {
      try {
        const key = await saveDrillRecord(s3, {
          bucket: backup.bucket,
          record,
          ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
        });
        report.add({ resource: `s3://${backup.bucket}/${key}`, action: "save-drill-record", status: "done" });
      } catch (error) {
        report.add({
          resource,
          action: "save-drill-record",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    addDrillToReport(report, record);
    return record;
  };

  if (!newest) {
    const reason = `no backup with a valid manifest among ${plural(listing.backups.length, "dump")}: nothing to restore`;
    report.add({ resource, action: "restore", status: "failed", reason });
    if (ctx.dryRun) return undefined;
    return finish(buildDrillRecord(facts({ failure: reason, checks: [], cleanup: { status: "absent" } })));
  }
  const manifest = newest.manifest;
  const takenAt = new Date(manifest.startedAt);
  const restoredFrom = {
    key: manifest.key,
    bytes: manifest.bytes,
    sha256: manifest.sha256,
    takenAt: manifest.startedAt,
    serverVersion: manifest.serverVersion,
  };

  // Before anything connects: a drill that does not fit this function goes to the task (or is skipped).
  const placement = await placeDrill({
    now: ctx.now(),
    deadline: ctx.deadline,
    drill: system.dr.drill,
    manifest,
    restoreEstimateMs: () => estimateRestoreMs(ctx, backup.bucket, database.id, manifest),
    freeBytes: () => freeBytes(ctx.tempDir.root),
    handOff,
  });
  if (placement.where === "task" && handOff) await handOff.handOff(placement.reason);
  else if (placement.where !== "here")
    report.add({ resource, action: "restore-drill", status: "skipped", reason: placement.reason });
  if (placement.where !== "here") return undefined;
  const estimateMs = placement.restoreEstimateMs;

  const target = await resolveDrillTarget(ctx, database, settings);
  const targetServer = await serverMajor(target.conn);
  const dumpMajor = parseToolVersion(`(PostgreSQL) ${manifest.pgDumpVersion}`)?.major ?? 0;
  const tools = await findTools({
    name: "pg_restore",
    extraDirs: (ctx.env.OPS_PG_BIN_DIRS ?? "").split(":").filter(Boolean),
    path: ctx.env.PATH ?? "",
  });
  // pg_restore must read the archive (≥ the pg_dump that wrote it) and suit the target server.
  const needed = Math.max(targetServer.major, dumpMajor);
  const tool = chooseTool(tools, { major: needed, version: String(needed) }, "pg_restore");
  const sourceMajor = Number.parseInt(manifest.serverVersion, 10);
  if (Number.isFinite(sourceMajor) && targetServer.major < sourceMajor) {
    warnings.push(
      `drill target runs PostgreSQL ${targetServer.version}, older than the source's ${manifest.serverVersion}: the restore may fail for that reason alone`,
    );
  }

  // At-least-once delivery: a drill of this database still within its deadline means this run is a duplicate.
  const now = ctx.now();
  const inFlight = (await listScratchDatabases(target.conn)).find(
    (d) =>
      d.comment?.system === system.id &&
      d.comment.database === database.id &&
      new Date(d.comment.deadline).getTime() > now.getTime(),
  );
  if (inFlight) {
    report.add({
      resource,
      action: "restore-drill",
      status: "skipped",
      reason: `drill ${inFlight.comment?.drillId} is in progress (scratch database ${inFlight.name}, deadline ${inFlight.comment?.deadline})`,
    });
    return undefined;
  }

  const name = scratchDatabaseName(system.id, database.id, startedAt);
  const drillDeadline = new Date(
    Math.min(
      startedAt.getTime() + settings.deadlineMinutes * 60_000,
      ctx.deadline?.getTime() ?? Number.POSITIVE_INFINITY,
    ),
  );
  const tempDir = ctx.env.TMPDIR ?? tmpdir();
  const mode = chooseRestoreMode({
    setting: settings.restoreMode,
    bytes: manifest.bytes,
    jobs: settings.jobs,
    ...(settings.restoreMode === "auto" ? { freeBytes: await freeBytes(tempDir) } : {}),
  });
  const scratchConn: PgConnection = { ...target.conn, database: name };
  const plan = {
    drillId: id,
    backup: `s3://${backup.bucket}/${manifest.key}`,
    bytes: manifest.bytes,
    takenAt: manifest.startedAt,
    target: `${describeConnection(target.conn)} (${target.from})`,
    scratchDatabase: name,
    deadline: drillDeadline.toISOString(),
    pgRestore: `${tool.version} (${tool.path})`,
    mode: mode === "download" ? `download, then pg_restore -j ${settings.jobs}` : "stream into pg_restore",
    checks: settings.checks.length,
    ...(estimateMs !== undefined ? { estimatedSeconds: Math.round(estimateMs / 1000) } : {}),
  };
  if (ctx.dryRun) {
    report.add({ resource: name, action: "create-scratch-database", status: "would-do", after: plan });
    report.add({ resource: name, action: "restore", status: "would-do", reason: `from ${plan.backup} (${plan.mode})` });
    report.add({
      resource: name,
      action: "validate",
      status: "would-do",
      reason: `table count, row counts of ${plural(Math.min(settings.tableLimit, manifest.tables.length), "table")}, ${plural(settings.checks.length, "custom check")}`,
    });
    report.add({ resource: name, action: "drop-scratch-database", status: "would-do" });
    return undefined;
  }

  try {
    await createScratchDatabase(
      target.conn,
      name,
      formatDrillComment({
        drillId: id,
        system: system.id,
        database: database.id,
        startedAt: startedAt.toISOString(),
        deadline: new Date(drillDeadline.getTime() + JANITOR_GRACE_MS).toISOString(),
      }),
    );
  } catch (error) {
    if (error instanceof ScratchExistsError) {
      report.add({ resource: name, action: "restore-drill", status: "skipped", reason: error.message });
      return undefined;
    }
    throw error;
  }
  report.add({ resource: name, action: "create-scratch-database", status: "done", after: plan });

  // Stop at the drill's deadline or when the edge says so; cleanup runs after either.
  const controller = new AbortController();
  // The restore in flight stops on a cancel (second Ctrl-C, SIGTERM, the deadline), not on a first Ctrl-C.
  const outer = ctx.cancel ?? ctx.signal;
  const onOuterAbort = () => controller.abort(outer?.reason ?? new Error("stopped by the caller"));
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  if (outer?.aborted) onOuterAbort();
  const timer = setTimeout(
    () => controller.abort(new Error(`the drill's deadline ${drillDeadline.toISOString()} passed`)),
    Math.max(0, drillDeadline.getTime() - ctx.now().getTime()),
  );
  let restore: RestoreResult | undefined;
  let checks: CheckResult[] = [];
  let validatedAt: Date | undefined;
  let validationMs: number | undefined;
  let failure: string | undefined;
  try {
    ctx.progress?.(`restoring ${resource} into ${name}`, 0);
    // A directory backup: every file downloaded and checked, then pg_restore -j (runbooks/backup/restore-directory.ts).
    restore = await restoreBackup(manifest, {
      s3,
      bucket: backup.bucket,
      tool,
      conn: scratchConn,
      mode,
      jobs: settings.jobs,
      signal: controller.signal,
      baseEnv: ctx.env,
      tempDir,
      onBytes: (bytes) =>
        ctx.progress?.(
          `restoring ${resource}: ${(bytes / 1048576).toFixed(1)} MiB`,
          bytes / Math.max(1, manifest.bytes),
        ),
    });
    checks = restoreChecks(restore, manifest);
    report.add({
      resource: name,
      action: "restore",
      status: checks.some((c) => c.status === "failed") ? "failed" : "done",
      after: { mode: restore.mode, bytes: restore.bytes, durationMs: restore.durationMs, exitCode: restore.exitCode },
      ...(restore.checksumOk
        ? restore.exitCode === 0
          ? {}
          : { reason: `pg_restore exited ${restore.exitCode}: ${restore.errors.slice(0, 3).join(" | ")}` }
        : { reason: `sha256/size do not match the manifest (got ${restore.sha256}, ${restore.bytes} bytes)` }),
    });
    if (restore.ran && restore.checksumOk) {
      ctx.progress?.(`validating ${name}`);
      const validationStarted = performance.now();
      const validation = await validateRestored(scratchConn, {
        ...(restore.tablesCreated > 0 ? { tableCount: restore.tablesCreated } : {}),
        tables: await expectedTables(ctx, backup.bucket, manifest, settings.tableLimit),
        rowTolerancePercent: settings.rowTolerancePercent,
        checks: settings.checks,
        checkRole: {
          drillId: id,
          system: system.id,
          database: database.id,
          deadline: new Date(drillDeadline.getTime() + JANITOR_GRACE_MS).toISOString(),
        },
        warn: (message) => warnings.push(message),
        signal: controller.signal,
      });
      checks.push(...validation);
      validationMs = Math.round(performance.now() - validationStarted);
      if (controller.signal.aborted) failure = `stopped: ${errorMessage(controller.signal.reason)}`;
      validatedAt = ctx.now();
      report.add({ resource: name, action: "validate", ...validationOutcome(validation) });
    }
  } catch (error) {
    failure = errorMessage(error);
    report.add({ resource: name, action: "restore", status: "failed", reason: failure });
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuterAbort);
  }

  // Always: success, failure, timeout. (A crash is the janitor's: the COMMENT carries the deadline.)
  let cleanup: DrillRecord["cleanup"];
  try {
    const dropped = await dropScratchDatabase(target.conn, name);
    cleanup = { status: dropped === "dropped" ? "removed" : "absent" };
    report.add({ resource: name, action: "drop-scratch-database", status: "done" });
    // Its grants went with the database: now the check role can go too.
    if (settings.checks.length > 0) {
      try {
        const roles = await dropCheckRolesOfDrill(target.conn, id);
        report.add({
          resource: name,
          action: "drop-check-role",
          status: "done",
          reason: `${plural(roles, "role")} dropped`,
        });
      } catch (error) {
        report.add({
          resource: name,
          action: "drop-check-role",
          status: "failed",
          reason: `${errorMessage(error)}; drill-janitor drops it after ${drillDeadline.toISOString()}`,
        });
      }
    }
  } catch (error) {
    const reason = errorMessage(error);
    cleanup = { status: "failed", reason };
    report.add({
      resource: name,
      action: "drop-scratch-database",
      status: "failed",
      reason: `${reason}; drill-janitor drops it after ${drillDeadline.toISOString()}`,
    });
  }

  const usable = Boolean(restore?.ran && restore.checksumOk && restore.exitCode === 0);
  return finish(
    buildDrillRecord(
      facts({
        finishedAt: ctx.now(),
        ...(validatedAt ? { validatedAt } : {}),
        recoveryPoint: takenAt,
        recoveryPointUsable: usable,
        restoredFrom,
        scratch: `${describeConnection(scratchConn)} (${target.from})`,
        checks,
        cleanup,
        ...(failure ? { failure } : {}),
        ...(restore
          ? {
              restore: {
                mode: restore.mode,
                bytes: restore.bytes,
                durationMs: restore.durationMs,
                ...(restore.downloadMs !== undefined ? { downloadMs: restore.downloadMs } : {}),
                ...(validationMs !== undefined ? { validationMs } : {}),
                exitCode: restore.exitCode,
                tablesCreated: restore.tablesCreated,
                tablesLoaded: restore.tablesLoaded,
                errors: restore.errors,
                pgRestore: tool.version,
              },
            }
          : {}),
      }),
    ),
  );
}
