import { createWriteStream } from "node:fs";
import { mkdtemp, rm, statfs } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { errorMessage } from "../../lib/errors.js";
import { HashingStream } from "../../lib/hashing-stream.js";
import { mapPool } from "../../lib/pool.js";
import type { RestoreFromS3Options, RestoreResult } from "../../lib/postgres/restore.js";
import { RestoreError, refusedRestore, restoreArgs, restoreFromS3, StderrParser } from "../../lib/postgres/restore.js";
import type { PgToolsPort } from "../../lib/postgres/tools.js";
import { getObjectIfPresent } from "../../lib/s3-object.js";
import { directoryFileKey, filesDigest, type ManifestFile } from "./directory.js";
import type { Manifest } from "./manifest.js";

/** What a restore of a directory backup needs beyond a custom dump's options: the folder for the files. */
export type RestoreBackupOptions = Omit<RestoreFromS3Options, "key" | "expected"> & {
  /** Where a directory backup's files are downloaded to (ctx.tempDir, or the CLI's temp dir). */
  tempDir?: string;
  /** Starts pg_restore for a directory backup (`ctx.pgTools`): the connection in libpq's environment only. */
  pgTools: Pick<PgToolsPort, "spawn">;
};

const MAX_ERRORS = 20;
/** Files downloaded at once. */
const DOWNLOAD_CONCURRENCY = 4;

/** One file as downloaded: what it hashed to, or that it was not there. */
type Downloaded = ManifestFile & { missing?: boolean };

async function downloadFile(options: RestoreBackupOptions, key: string, path: string): Promise<Downloaded> {
  const name = key.slice(key.lastIndexOf("/") + 1);
  const object = await getObjectIfPresent(
    options.s3,
    { bucket: options.bucket, key },
    options.signal ? { abortSignal: options.signal } : {},
  );
  if (!object) return { name, bytes: 0, sha256: "", missing: true };
  const body = object.Body instanceof Readable ? object.Body : Readable.fromWeb(object.Body as never);
  const hasher = new HashingStream();
  await pipeline(body, hasher, createWriteStream(path), options.signal ? { signal: options.signal } : {});
  return { name, bytes: hasher.bytes, sha256: hasher.hash.digest("hex") };
}

/** Each file of the manifest, downloaded into `dir` and hashed on the way. */
async function downloadAll(options: RestoreBackupOptions, manifest: Manifest, dir: string): Promise<Downloaded[]> {
  let received = 0;
  const outcomes = await mapPool(manifest.files ?? [], DOWNLOAD_CONCURRENCY, async (file) => {
    const got = await downloadFile(options, directoryFileKey(manifest.key, file.name), join(dir, file.name));
    received += got.bytes;
    options.onBytes?.(received);
    return got;
  });
  return outcomes.map((o) => {
    if (o.status === "done") return o.value;
    const error = o.status === "error" ? o.error : new Error("not downloaded");
    throw new RestoreError(
      `downloading a file of s3://${options.bucket}/${manifest.key}/ failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  });
}

/** The files that do not match the manifest, each with how. */
function mismatches(manifest: Manifest, downloaded: Downloaded[]): string[] {
  const byName = new Map(downloaded.map((d) => [d.name, d]));
  return (manifest.files ?? []).flatMap((f) => {
    const got = byName.get(f.name);
    if (!got || got.missing) return [`${f.name}: missing from the bucket`];
    if (got.bytes !== f.bytes || got.sha256 !== f.sha256)
      return [
        `${f.name}: sha256 ${got.sha256.slice(0, 16)}…, ${got.bytes} bytes; the manifest says ${f.sha256.slice(0, 16)}…, ${f.bytes} bytes`,
      ];
    return [];
  });
}

/** Runs `pg_restore -j N` over the downloaded folder; counts what its verbose output says. */
async function runRestore(options: RestoreBackupOptions, dir: string) {
  // Its verbose lines are counted: English whatever the locale.
  const { child, exited } = options.pgTools.spawn(options.tool, {
    args: restoreArgs(options, dir, ["--format=directory"]),
    conn: options.conn,
    stdio: ["ignore", "ignore", "pipe"],
    englishMessages: true,
  });
  const parser = new StderrParser();
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => parser.push(chunk));
  const onAbort = () => child.kill("SIGTERM");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const exit = await exited;
    parser.end();
    if (options.signal?.aborted) throw new RestoreError(`restore stopped: ${errorMessage(options.signal.reason)}`);
    if (exit.error)
      throw new RestoreError(`could not start ${options.tool.path}: ${exit.error.message}`, { cause: exit.error });
    const { tablesCreated, tablesLoaded, errors } = parser;
    return { tablesCreated, tablesLoaded, errors, exitCode: exit.code, exitSignal: exit.signal };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const info = await statfs(dir);
    return info.bavail * info.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Restores a directory backup: every file of the manifest downloaded into a folder under `tempDir` and its
 * sha256 and size checked, then — only when every file matches — `pg_restore -j N`. A corrupt, missing or
 * replaced file means nothing is restored (`ran: false`, the files named in `errors`). The folder is
 * removed whatever happened. Same result as {@link restoreFromS3}, so drills and `ops restore` judge both alike.
 */
export async function restoreDirectoryFromS3(
  manifest: Manifest,
  options: RestoreBackupOptions,
): Promise<RestoreResult> {
  if (!options.tempDir)
    throw new RestoreError("a directory backup is restored from local disk: no temp directory was given");
  if (options.signal?.aborted) throw new RestoreError(`restore stopped: ${errorMessage(options.signal.reason)}`);
  const free = await freeBytes(options.tempDir);
  if (free !== undefined && free < manifest.bytes * 1.05) {
    throw new RestoreError(
      `${options.tempDir} has ${Math.floor(free / 1048576)} MiB free; the backup's files need ${Math.ceil(manifest.bytes / 1048576)} MiB: give the run more local disk (the Fargate task's ephemeral storage)`,
    );
  }
  const started = performance.now();
  const dir = await mkdtemp(join(options.tempDir, "ops-restore-"));
  try {
    const downloaded = await downloadAll(options, manifest, dir).catch((error: unknown) => {
      if (options.signal?.aborted) throw new RestoreError(`restore stopped: ${errorMessage(options.signal.reason)}`);
      throw error;
    });
    const downloadMs = Math.round(performance.now() - started);
    const bad = mismatches(manifest, downloaded);
    const present = downloaded.filter((d) => !d.missing);
    const sha256 = filesDigest(present);
    const bytes = present.reduce((sum, d) => sum + d.bytes, 0);
    const checksumOk = bad.length === 0 && sha256 === manifest.sha256 && bytes === manifest.bytes;
    const base = { mode: "download" as const, bytes, sha256, checksumOk, downloadMs };
    if (!checksumOk) {
      const errors = bad.length ? bad.slice(0, MAX_ERRORS) : ["the files' digest does not match the manifest's sha256"];
      return refusedRestore(base, errors, started);
    }
    const restored = await runRestore(options, dir);
    return { ...base, ran: true, ...restored, durationMs: Math.round(performance.now() - started) };
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Restores a verified backup whatever its format: a directory backup with {@link restoreDirectoryFromS3},
 * a custom dump with {@link restoreFromS3} (checked against the manifest's sha256 and size).
 */
export function restoreBackup(manifest: Manifest, options: RestoreBackupOptions): Promise<RestoreResult> {
  if (manifest.format === "directory") return restoreDirectoryFromS3(manifest, options);
  return restoreFromS3({ ...options, key: manifest.key, expected: { bytes: manifest.bytes, sha256: manifest.sha256 } });
}
