import { PutObjectCommand } from "@aws-sdk/client-s3";
import { DumpError, type DumpResult } from "../../lib/backup/dump-to-s3.js";
import { serverSideEncryption } from "../../lib/backup/encryption.js";
import { errorMessage } from "../../lib/errors.js";
import type { HeldSnapshot } from "../../lib/postgres/snapshot.js";
import type { HeldClaim } from "../exclusive.js";
import { startTask } from "../fargate-handoff.js";
import { type RunbookContext, stepSignal } from "../types.js";
import type { ManifestFile } from "./directory.js";
import { discardDump, dumpInFormat, manifestFormatFields } from "./dump-directory.js";
import { manifestKey } from "./layout.js";
import type { Manifest } from "./manifest.js";
import type { DumpStep, HandOffStep } from "./plan.js";

/** Progress is reported when this many more bytes have been dumped. */
const PROGRESS_STEP = 4 * 1024 * 1024;

/** `12.5 MiB`: a size for a person. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** What carrying out one step came to: the typed result the report and the summary are built from. */
export type StepResult =
  | { kind: "dumped"; key: string; bytes: number; sha256: string; durationMs: number }
  | { kind: "handed-off"; taskArn: string; reason: string }
  | { kind: "failed"; reason: string };

/** Where one dump goes and what it is of: the system and database ids the manifest names. */
export interface DumpTarget {
  system: string;
  database: string;
  resource: string;
}

/** Exact counts of the largest tables in the dump's own snapshot, or none (estimates only, logged). */
async function holdSnapshot(ctx: RunbookContext, step: DumpStep, resource: string) {
  const snapshot: HeldSnapshot | undefined = await ctx.postgres
    .exportSnapshot(step.server.conn)
    .catch((error: unknown) => {
      ctx.logger.warn("could not export a snapshot: the manifest gets row estimates only", {
        resource,
        error: errorMessage(error),
      });
      return undefined;
    });
  const counting = snapshot?.count(step.server.info.tables, (table, error) =>
    ctx.logger.warn("could not count a table exactly", {
      resource,
      table: `${table.schema}.${table.name}`,
      error: errorMessage(error),
    }),
  );
  return { snapshot, counting };
}

/** A dump's figures, and a directory dump's files. */
type FormatDumpResult = DumpResult & { files?: ManifestFile[] };

/**
 * Streams pg_dump into S3 in the step's format (a custom dump: `lib/backup/dump-to-s3.ts`; a directory
 * dump: `./dump-directory.ts`, its files on `ctx.tempDir` until uploaded), with progress every 4 MiB.
 */
function runDump(ctx: RunbookContext, step: DumpStep, resource: string, snapshotId: string | undefined) {
  let reported = 0;
  const signal = stepSignal(ctx);
  const choice = { ...step.format, tempDir: ctx.tempDir, pgTools: ctx.pgTools };
  return dumpInFormat(choice, {
    ...(snapshotId ? { snapshot: snapshotId } : {}),
    tool: step.server.tool,
    conn: step.server.conn,
    compression: step.compression,
    s3: ctx.clients.s3,
    bucket: step.bucket,
    key: step.key,
    ...(step.kmsKeyId ? { kmsKeyId: step.kmsKeyId } : {}),
    // The dump in flight stops on a cancel (second Ctrl-C, SIGTERM, the deadline), not on a first Ctrl-C.
    ...(signal ? { signal } : {}),
    baseEnv: ctx.pgTools.baseEnv,
    // pg_dump writes in ~10 KB blocks: report every 4 MiB, not 400 times a second.
    onBytes: (bytes) => {
      if (bytes - reported < PROGRESS_STEP) return;
      reported = bytes;
      ctx.progress?.(`dumping ${resource}: ${formatBytes(bytes)}`);
    },
  });
}

/** The manifest that makes the dump a backup. */
function buildManifest(
  step: DumpStep,
  target: DumpTarget,
  run: { result: FormatDumpResult; counts: Map<string, number> | undefined; startedAt: Date; finishedAt: Date },
): Manifest {
  const { info, tool, conn } = step.server;
  return {
    version: 1,
    system: target.system,
    database: target.database,
    databaseName: conn.database,
    bucket: step.bucket,
    key: step.key,
    bytes: run.result.bytes,
    sha256: run.result.sha256,
    ...manifestFormatFields(step.format, run.result),
    compression: step.compression,
    serverVersion: info.version,
    pgDumpVersion: tool.version,
    databaseBytes: info.databaseBytes,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    durationMs: run.result.durationMs,
    tables: info.tables.map((t) => {
      const rows = run.counts?.get(`${t.schema}.${t.name}`);
      return rows === undefined ? t : { ...t, rows };
    }),
    encryption: step.kmsKeyId ? "aws:kms" : "AES256",
  };
}

/** Writes the manifest; without it the dump is not a backup, so a failed write removes the dump (all its files). */
async function writeManifest(
  ctx: RunbookContext,
  step: DumpStep,
  written: { manifest: Manifest; files: ManifestFile[] | undefined },
): Promise<string | undefined> {
  const { manifest } = written;
  const s3 = ctx.clients.s3;
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: step.bucket,
        Key: manifestKey(step.key),
        Body: JSON.stringify(manifest, null, 2),
        ContentType: "application/json",
        ...serverSideEncryption(step.kmsKeyId),
      }),
    );
    return undefined;
  } catch (error) {
    await discardDump(s3, { bucket: step.bucket, key: step.key, ...(written.files ? { files: written.files } : {}) });
    return `manifest write failed: ${errorMessage(error)}`;
  }
}

/**
 * Carries out a dump step: the snapshot held while pg_dump streams into S3, the exact counts taken in
 * it, then the manifest. Started at `startedAt` (the plan's clock, which named the key).
 */
export async function applyDump(
  ctx: RunbookContext,
  step: DumpStep,
  target: DumpTarget,
  startedAt: Date,
): Promise<StepResult> {
  ctx.progress?.(`dumping ${target.resource}`, 0);
  const { snapshot, counting } = await holdSnapshot(ctx, step, target.resource);
  let result: FormatDumpResult;
  let counts: Map<string, number> | undefined;
  try {
    result = await runDump(ctx, step, target.resource, snapshot?.id);
    counts = await counting;
  } catch (error) {
    await counting?.catch(() => undefined);
    const stderr = error instanceof DumpError && error.stderr ? `; pg_dump said: ${error.stderr}` : "";
    return { kind: "failed", reason: `${errorMessage(error)}${stderr}` };
  } finally {
    await snapshot?.release();
  }
  const manifest = buildManifest(step, target, { result, counts, startedAt, finishedAt: ctx.now() });
  const failed = await writeManifest(ctx, step, { manifest, files: result.files });
  if (failed) return { kind: "failed", reason: failed };
  return { kind: "dumped", key: step.key, bytes: result.bytes, sha256: result.sha256, durationMs: result.durationMs };
}

/**
 * Carries out a hand-off through the one way any runbook starts the task ({@link startTask}): the claim
 * extended, RunTask, the claim kept. A refused or failed RunTask is `failed`, and the claim is released as
 * after any failed run.
 */
export async function applyHandOff(ctx: RunbookContext, step: HandOffStep, claim: HeldClaim): Promise<StepResult> {
  try {
    const taskArn = await startTask(ctx, step.request, claim);
    return { kind: "handed-off", taskArn, reason: step.reason };
  } catch (error) {
    return { kind: "failed", reason: `hand-off to Fargate failed: ${errorMessage(error)}` };
  }
}
