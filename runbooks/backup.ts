import { PutObjectCommand } from "@aws-sdk/client-s3";
import { z } from "zod";
import { type CheckedBackup, inspectBackups } from "../lib/backup/catalog.js";
import { backupKeyFor, discardDump, dumpInFormat, manifestFormatFields } from "../lib/backup/dump-directory.js";
import { DumpError } from "../lib/backup/dump-to-s3.js";
import { serverSideEncryption } from "../lib/backup/encryption.js";
import { claimKey, manifestKey } from "../lib/backup/layout.js";
import type { Manifest } from "../lib/backup/manifest.js";
import { backupTaskPermissions } from "../lib/backup/task.js";
import { errorMessage } from "../lib/errors.js";
import { backupKmsPermissions, backupListPermissions, backupObjectArn, databaseSecretPermissions } from "../lib/iam.js";
import { describeConnection, resolveConnection } from "../lib/postgres/connection.js";
import { readServerInfo } from "../lib/postgres/server.js";
import { exportSnapshot, type HeldSnapshot } from "../lib/postgres/snapshot.js";
import { chooseTool, findTools } from "../lib/postgres/tools.js";
import { plural } from "../lib/text.js";
import { dumpFormatOf } from "../systems/dump-format.js";
import type { Database, System } from "../systems/schema.js";
import { backupTaskSettings, decidePlacement, handOffBackup, type Placement } from "./backup-handoff.js";
import { selectDatabases } from "./databases.js";
import { type HeldClaim, runExclusive } from "./exclusive.js";
import { booleanish, wholeNumber } from "./inputs.js";
import { ReportBuilder } from "./report.js";
import { type Runbook, type RunbookContext, stepSignal } from "./types.js";

const signalOption = (signal: AbortSignal | undefined) => (signal ? { signal } : {});

const input = z.strictObject({
  /** Only this database (its catalogue id). */
  database: z.string().optional(),
  /** Take a backup even if a verified one is younger than `minIntervalMinutes`. */
  force: booleanish.default(false),
  /** A verified backup younger than this makes the run a no-op: at-least-once events do not double up. */
  minIntervalMinutes: wholeNumber(0, 10_080).default(60),
  /** pg_dump -Z level for this run, overriding the catalogue. */
  compression: wholeNumber(0, 9).optional(),
});

/** Dump rate assumed before any backup has been measured (bytes of database per ms ≈ 20 MB/s). */
const DEFAULT_RATE_BYTES_PER_MS = 20_000;
/** Progress is reported when this many more bytes have been dumped. */
const PROGRESS_STEP = 4 * 1024 * 1024;

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** One database, claimed for the run: a duplicate event arriving during the dump reports `skipped`. */
function backupDatabase(
  ctx: RunbookContext,
  report: ReportBuilder,
  database: Database,
  options: z.output<typeof input>,
): Promise<void> {
  const backup = ctx.system.backup;
  if (!backup) return Promise.resolve();
  return runExclusive(
    ctx,
    report,
    {
      bucket: backup.bucket,
      key: claimKey(backup.prefix, ctx.system.id, database.id),
      ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
      resource: `${ctx.system.id}/${database.id}`,
      action: "backup",
      what: "this backup",
    },
    (claim) => takeBackup(ctx, report, { database, options, claim }),
  );
}

/**
 * Dumps newer than the newest verified backup, each with why it does not count: a dump dated in the
 * future must never pass for a recent backup (and silence this run as "younger than minInterval").
 */
function reportPassedOver(report: ReportBuilder, passedOver: CheckedBackup[]): void {
  for (const b of passedOver) {
    if (b.check.state === "verified") continue;
    report.add({
      resource: b.key,
      action: "ignore-backup",
      status: "skipped",
      reason: `not counted as the newest backup: ${b.check.state === "future" ? `${b.check.reason} (a clock is wrong here or where it was written)` : `unverified (${b.check.reason})`}`,
    });
  }
}

/** What one database's backup runs with. */
interface BackupJob {
  database: Database;
  options: z.output<typeof input>;
  claim: HeldClaim;
}

/**
 * Acts on a placement other than "here": the task (handed off, the claim kept for it) or a skip. True
 * when the job is settled and this process dumps nothing.
 */
async function placeElsewhere(
  ctx: RunbookContext,
  report: ReportBuilder,
  job: BackupJob,
  placement: Placement,
): Promise<boolean> {
  const resource = `${ctx.system.id}/${job.database.id}`;
  if (placement.where === "skip") {
    report.add({ resource, action: "backup", status: "skipped", reason: placement.reason });
    return true;
  }
  if (placement.where !== "task") return false;
  const task = backupTaskSettings(ctx.system, ctx.env);
  if (!("settings" in task)) throw new Error(`internal: placed on a task without one (${task.noTask})`);
  await handOffBackup(ctx, report, {
    system: ctx.system,
    database: job.database,
    settings: task.settings,
    claim: job.claim,
    reason: placement.reason,
    force: job.options.force,
    ...(job.options.compression !== undefined ? { compression: job.options.compression } : {}),
  });
  return true;
}

async function takeBackup(ctx: RunbookContext, report: ReportBuilder, job: BackupJob): Promise<void> {
  const { database, options } = job;
  const { system } = ctx;
  const backup = system.backup;
  if (!backup) return;
  const resource = `${system.id}/${database.id}`;
  const s3 = ctx.clients.s3;
  const now = ctx.now();
  const { newest: previous, passedOver } = await inspectBackups(s3, {
    bucket: backup.bucket,
    prefix: backup.prefix,
    system: system.id,
    database: database.id,
    now,
  });
  reportPassedOver(report, passedOver);
  if (previous && !options.force) {
    const ageMs = now.getTime() - previous.backup.takenAt.getTime();
    if (ageMs < options.minIntervalMinutes * 60_000) {
      report.add({
        resource,
        action: "backup",
        status: "skipped",
        reason: `a verified backup from ${previous.manifest.finishedAt} is younger than ${options.minIntervalMinutes} min (force=true to take another)`,
        before: { key: previous.backup.key },
      });
      return;
    }
  }

  const format = { ...dumpFormatOf(database), tempDir: ctx.tempDir };
  const task = backupTaskSettings(system, ctx.env);
  const placementInput = {
    runOn: database.backupRunOn ?? backup.runOn,
    ...(ctx.deadline ? { budgetMs: ctx.deadline.getTime() - now.getTime() } : {}),
    ...("noTask" in task ? { noTask: task.noTask } : {}),
    ...(format.format === "directory" ? { needsDisk: `directory format (pg_dump -Fd -j ${format.jobs})` } : {}),
  };
  if (await placeElsewhere(ctx, report, job, decidePlacement(placementInput))) return;

  const conn = await resolveConnection({
    database,
    secrets: ctx.clients.secrets,
    env: ctx.env,
    system: ctx.system,
  });
  const server = await readServerInfo(conn);
  const tools = await findTools({
    name: "pg_dump",
    extraDirs: (ctx.env.OPS_PG_BIN_DIRS ?? "").split(":").filter(Boolean),
    path: ctx.env.PATH ?? "",
  });
  const tool = chooseTool(tools, server, "pg_dump");
  const compression = options.compression ?? backup.compression;

  // Estimate from the last measured rate: a dump that cannot finish before the deadline goes to the
  // Fargate task (or is reported skipped with the numbers), never left to be cut off by a Lambda timeout.
  const rate =
    previous && previous.manifest.durationMs > 0
      ? previous.manifest.databaseBytes / previous.manifest.durationMs
      : DEFAULT_RATE_BYTES_PER_MS;
  const estimateMs = Math.round(server.databaseBytes / Math.max(rate, 1));
  report.metric(`estimatedMs.${database.id}`, estimateMs);
  const placement = decidePlacement({
    ...placementInput,
    estimateMs,
    databaseBytes: server.databaseBytes,
    rateBytesPerMs: rate,
  });
  if (await placeElsewhere(ctx, report, job, placement)) return;

  const key = backupKeyFor(format, { prefix: backup.prefix, system: system.id, database: database.id, at: now });
  const plan = {
    key: `s3://${backup.bucket}/${key}`,
    source: describeConnection(conn),
    serverVersion: server.version,
    pgDump: `${tool.version} (${tool.path})`,
    compression,
    format: format.format === "directory" ? `directory, pg_dump -j ${format.jobs}` : "custom",
    databaseBytes: server.databaseBytes,
    estimatedSeconds: Math.round(estimateMs / 1000),
  };
  if (ctx.dryRun) {
    report.add({ resource, action: "backup", status: "would-do", after: plan });
    return;
  }

  ctx.progress?.(`dumping ${resource}`, 0);
  // Exact counts of the largest tables in the dump's own snapshot; without one (a server that refuses to
  // export it) the dump goes ahead and the manifest keeps the estimates only.
  const snapshot: HeldSnapshot | undefined = await exportSnapshot(conn).catch((error: unknown) => {
    ctx.logger.warn("could not export a snapshot: the manifest gets row estimates only", {
      resource,
      error: errorMessage(error),
    });
    return undefined;
  });
  const counting = snapshot?.count(server.tables, (table, error) =>
    ctx.logger.warn("could not count a table exactly", {
      resource,
      table: `${table.schema}.${table.name}`,
      error: errorMessage(error),
    }),
  );
  let reported = 0;
  let result: Awaited<ReturnType<typeof dumpInFormat>>;
  let counts: Map<string, number> | undefined;
  try {
    result = await dumpInFormat(format, {
      ...(snapshot ? { snapshot: snapshot.id } : {}),
      tool,
      conn,
      compression,
      s3,
      bucket: backup.bucket,
      key,
      ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
      // The dump in flight stops on a cancel (second Ctrl-C, SIGTERM, the deadline), not on a first Ctrl-C.
      ...signalOption(stepSignal(ctx)),
      baseEnv: ctx.env,
      // pg_dump writes in ~10 KB blocks: report every 4 MiB, not 400 times a second.
      onBytes: (bytes) => {
        if (bytes - reported < PROGRESS_STEP) return;
        reported = bytes;
        ctx.progress?.(`dumping ${resource}: ${formatBytes(bytes)}`);
      },
    });
    counts = await counting;
  } catch (error) {
    await counting?.catch(() => undefined);
    const stderr = error instanceof DumpError && error.stderr ? `; pg_dump said: ${error.stderr}` : "";
    report.add({
      resource,
      action: "backup",
      status: "failed",
      reason: `${errorMessage(error)}${stderr}`,
      after: plan,
    });
    return;
  } finally {
    await snapshot?.release();
  }

  const finishedAt = ctx.now();
  const manifest: Manifest = {
    version: 1,
    system: system.id,
    database: database.id,
    databaseName: conn.database,
    bucket: backup.bucket,
    key,
    bytes: result.bytes,
    sha256: result.sha256,
    ...manifestFormatFields(format, result),
    compression,
    serverVersion: server.version,
    pgDumpVersion: tool.version,
    databaseBytes: server.databaseBytes,
    startedAt: now.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: result.durationMs,
    tables: server.tables.map((t) => {
      const rows = counts?.get(`${t.schema}.${t.name}`);
      return rows === undefined ? t : { ...t, rows };
    }),
    encryption: backup.kmsKeyId ? "aws:kms" : "AES256",
  };
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: backup.bucket,
        Key: manifestKey(key),
        Body: JSON.stringify(manifest, null, 2),
        ContentType: "application/json",
        ...serverSideEncryption(backup.kmsKeyId),
      }),
    );
  } catch (error) {
    // Without its manifest the dump is not a backup: remove it rather than leave something that looks like one.
    await discardDump(s3, { bucket: backup.bucket, key, ...(result.files ? { files: result.files } : {}) });
    report.add({
      resource,
      action: "backup",
      status: "failed",
      reason: `manifest write failed: ${errorMessage(error)}`,
    });
    return;
  }
  report.metric(`bytes.${database.id}`, result.bytes);
  report.metric(`durationMs.${database.id}`, result.durationMs);
  report.series.push({
    name: "BackupAgeSeconds",
    unit: "Seconds",
    value: 0,
    dimensions: { System: system.id, Database: database.id },
  });
  report.add({
    resource,
    action: "backup",
    status: "done",
    after: { key: manifest.key, bytes: result.bytes, sha256: result.sha256, durationMs: result.durationMs },
  });
}

/** pg_dump of every database of a system, streamed to S3 with a manifest. */
export const backupRunbook: Runbook<typeof input> = {
  name: "backup",
  description: "pg_dump each database (custom format) straight into S3 with a sha256 manifest; no temp file",
  destructive: false,
  input,
  timeoutSeconds: 900,
  // Two vCPUs: pg_dump compresses on one, the upload pipeline (sha256, CRC32, HTTP) runs on the other;
  // bench/backup shows what sharing one costs.
  memoryMB: 3538,
  validate(system, options) {
    selectDatabases(system, options.database);
  },
  permissions(system: System) {
    if (!system.backup) return [];
    return [
      ...backupListPermissions(system),
      {
        actions: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
        resources: [backupObjectArn(system)],
      },
      ...databaseSecretPermissions(system),
      ...backupKmsPermissions(system),
      ...backupTaskPermissions(system),
    ];
  },
  async run(ctx, options) {
    const report = new ReportBuilder(ctx, "backup");
    const { system } = ctx;
    if (!system.backup || system.databases.length === 0) {
      report.add({
        resource: system.id,
        action: "backup",
        status: "skipped",
        reason: "no databases or no backup section in the catalogue",
      });
      return report.finish({ summary: "nothing to back up" });
    }
    const databases = selectDatabases(system, options.database);
    for (const database of databases) {
      if (ctx.signal?.aborted) {
        report.markAborted("stopped before the deadline; remaining databases not backed up");
        break;
      }
      try {
        await backupDatabase(ctx, report, database, options);
      } catch (error) {
        report.add({
          resource: `${system.id}/${database.id}`,
          action: "backup",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    const done = report.actions.filter((a) => a.status === "done" && a.action === "backup");
    const handedOff = report.actions.filter((a) => a.status === "done" && a.action === "hand-off");
    const bytes = done.reduce((sum, a) => sum + ((a.after as { bytes?: number })?.bytes ?? 0), 0);
    const failed = report.actions.filter((a) => a.status === "failed");
    const summary = ctx.dryRun
      ? `would back up ${plural(report.actions.filter((a) => a.status === "would-do").length, "database")}`
      : failed.length
        ? `${plural(failed.length, "backup")} failed: ${failed
            .map((a) => `${a.resource}: ${a.reason}`)
            .join("; ")
            .slice(0, 300)}`
        : done.length || handedOff.length
          ? [
              ...(done.length ? [`backed up ${plural(done.length, "database")}, ${formatBytes(bytes)}`] : []),
              ...handedOff.map((a) => `${a.resource}: ${a.reason}`),
            ].join("; ")
          : report.actions.map((a) => a.reason).join("; ");
    return report.finish({ summary });
  },
};
