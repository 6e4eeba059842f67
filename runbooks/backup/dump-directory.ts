import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { DeleteObjectsCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DumpError, type DumpResult, type DumpToS3Options, dumpToS3 } from "../../lib/backup/dump-to-s3.js";
import { serverSideEncryption } from "../../lib/backup/encryption.js";
import { MultipartUploadStream } from "../../lib/backup/multipart-upload.js";
import { errorMessage } from "../../lib/errors.js";
import { createLimiter } from "../../lib/pool.js";
import type { PgToolsPort } from "../../lib/postgres/tools.js";
import type { TempDirPort } from "../../lib/tempdir.js";
import type { DumpFormat } from "../../systems/dump-format.js";
import { directoryFileKey, directoryKey, filesDigest, type ManifestFile } from "./directory.js";
import { dumpKey } from "./layout.js";
import type { Manifest } from "./manifest.js";

/** Options of {@link dumpDirectoryToS3}: those of a custom dump, the workers and where the files go first. */
export interface DumpDirectoryOptions extends Omit<DumpToS3Options, "partSizeBytes" | "queueSize" | "baseEnv"> {
  /** `pg_dump -j`. */
  jobs: number;
  /** Room for the dump (`ctx.tempDir`: the Fargate task's ephemeral storage); a fresh folder is made in it. */
  tempDir: Pick<TempDirPort, "create">;
  /** Starts pg_dump (`ctx.pgTools`): the connection in libpq's environment only. */
  pgTools: Pick<PgToolsPort, "spawn">;
  /** Files uploaded at once (default 2). */
  uploadConcurrency?: number;
}

/** A directory dump: a custom dump's figures (`sha256` is the digest of the files) and each file. */
export interface DirectoryDumpResult extends DumpResult {
  files: ManifestFile[];
  /** Files uploaded while pg_dump was still running (the rest, e.g. `toc.dat`, after it exited). */
  uploadedEarly: number;
}

/** Up to this size a file goes up in one PUT from memory; above it, a multipart upload from disk. */
const SINGLE_PUT_BYTES = 16 * 1024 * 1024;
const STDERR_LIMIT = 16_384;
/**
 * pg_dump's leader prints this once a worker has reported a TOC entry done (`mark_dump_job_done` in
 * pg_backup_archiver.c), and a worker reports only after `WriteDataChunksForTocEntry` returned, i.e.
 * after the directory format's EndData closed that entry's `<dumpId>.dat[.gz|.lz4|.zst]`. So the file
 * is complete when this line arrives. Printed only in parallel mode (`-j` ≥ 2) and in English (LC_MESSAGES=C).
 */
const FINISHED_ITEM = /^pg_dump: finished item (\d+) TABLE DATA /;
const dataFileOf = (id: string) => new RegExp(`^${id}\\.dat(\\.[a-z0-9]+)?$`);

function dumpArgs(options: DumpDirectoryOptions, out: string): string[] {
  return [
    "--format=directory",
    `--jobs=${options.jobs}`,
    `--file=${out}`,
    "--verbose",
    ...(options.compression >= 0 ? [`--compress=${options.compression}`] : []),
    "--no-password",
    "--no-sync",
    ...(options.snapshot ? [`--snapshot=${options.snapshot}`] : []),
  ];
}

/** Uploads one finished file, hashing what it sends; the local copy is removed once it is in S3. */
async function uploadFile(options: DumpDirectoryOptions, dir: string, name: string): Promise<ManifestFile> {
  const path = join(dir, name);
  const key = directoryFileKey(options.key, name);
  const { size } = await stat(path);
  let sha256: string;
  let bytes: number;
  if (size <= SINGLE_PUT_BYTES) {
    const body = await readFile(path);
    sha256 = createHash("sha256").update(body).digest("hex");
    bytes = body.length;
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ...serverSideEncryption(options.kmsKeyId),
      }),
      options.signal ? { abortSignal: options.signal } : {},
    );
  } else {
    const upload = new MultipartUploadStream({
      s3: options.s3,
      bucket: options.bucket,
      key,
      queueSize: 2,
      ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
    });
    await pipeline(createReadStream(path), upload, options.signal ? { signal: options.signal } : {});
    sha256 = upload.hash.digest("hex");
    bytes = upload.bytes;
  }
  // Ephemeral storage holds the part of the dump not uploaded yet, not the whole dump.
  await rm(path, { force: true });
  return { name, bytes, sha256 };
}

/** The upload side of a directory dump: files queued as they complete, at most N in flight. */
class FileUploads {
  readonly files: ManifestFile[] = [];
  private readonly queued = new Set<string>();
  private readonly pending: Promise<void>[] = [];
  private readonly limit;
  failure: unknown;
  uploaded = 0;

  constructor(
    private readonly options: DumpDirectoryOptions,
    private readonly dir: string,
    private readonly onFailure: (error: unknown) => void,
  ) {
    this.limit = createLimiter(options.uploadConcurrency ?? 2);
  }

  queue(name: string): void {
    if (this.queued.has(name)) return;
    this.queued.add(name);
    const task = this.limit(() => uploadFile(this.options, this.dir, name)).then(
      (file) => {
        this.files.push(file);
        this.uploaded += file.bytes;
        this.options.onBytes?.(this.uploaded);
      },
      (error: unknown) => {
        this.failure ??= error;
        this.onFailure(error);
      },
    );
    this.pending.push(task);
  }

  /** Queues the finished item's data file(s). */
  async finishedItem(id: string): Promise<void> {
    const pattern = dataFileOf(id);
    for (const name of await readdir(this.dir)) if (pattern.test(name)) this.queue(name);
  }

  get queuedCount(): number {
    return this.queued.size;
  }

  async settle(): Promise<void> {
    for (let done = 0; done < this.pending.length; done = this.pending.length) {
      await Promise.all(this.pending.slice(done));
    }
  }

  /** Keys uploaded (or possibly uploaded) so far, for the clean-up of a failed dump. */
  keys(): string[] {
    return [...this.queued].map((name) => directoryFileKey(this.options.key, name));
  }
}

async function deleteUploaded(options: DumpDirectoryOptions, keys: string[]): Promise<string | undefined> {
  if (keys.length === 0) return undefined;
  try {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const result = await options.s3.send(
        new DeleteObjectsCommand({
          Bucket: options.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      if (result.Errors?.length) return `${result.Errors.length} files could not be deleted`;
    }
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/** pg_dump's stderr: verbose progress is parsed, not kept; warnings and errors are kept (bounded). */
function watchStderr(child: ChildProcess, onFinished: (id: string) => void): { text: () => string } {
  let kept = "";
  let partial = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const finished = FINISHED_ITEM.exec(line);
      if (finished?.[1]) onFinished(finished[1]);
      else if (/\b(error|warning|fatal|detail|hint)\b/i.test(line) && kept.length < STDERR_LIMIT) kept += `${line}\n`;
    }
  });
  return { text: () => `${kept}${partial}`.trim() };
}

type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

/** Why pg_dump did not succeed; undefined when it exited 0. */
function failureOf(options: DumpDirectoryOptions, exit: Exit): string | undefined {
  if (exit.error) return `could not start ${options.tool.path}: ${exit.error.message}`;
  if (exit.signal) return `pg_dump was killed by ${exit.signal}`;
  return exit.code === 0 ? undefined : `pg_dump exited with code ${exit.code}`;
}

/** After a failure: wait for the uploads in flight, delete every file uploaded, and say what is left. */
async function cleanUpFailed(
  options: DumpDirectoryOptions,
  uploads: FileUploads,
  error: unknown,
  stderr: string,
): Promise<DumpError> {
  await uploads.settle();
  const left = await deleteUploaded(options, uploads.keys());
  const base = error instanceof DumpError ? error : new DumpError(errorMessage(error), stderr, { cause: error });
  if (!left) return base;
  return new DumpError(
    `${base.message}; its uploaded files could not all be deleted (${left}): without a manifest they are not a backup, and prune-backups removes them`,
    base.stderr,
    { cause: base },
  );
}

/**
 * `pg_dump --format=directory --jobs=N` into a folder under `tempDir`, each table's data file uploaded to
 * `<key>/<name>` as soon as pg_dump reports it finished (see {@link FINISHED_ITEM}), the rest (`toc.dat`,
 * large objects) after pg_dump exited 0. Each file's sha256 and size are returned for the manifest.
 * A dump that fails or is cancelled leaves nothing: pg_dump is stopped, the files already uploaded are
 * deleted, and the local folder is removed whatever happened.
 */
export async function dumpDirectoryToS3(options: DumpDirectoryOptions): Promise<DirectoryDumpResult> {
  if (options.signal?.aborted) {
    throw new DumpError(`the run was cancelled (${errorMessage(options.signal.reason ?? "aborted")})`, "");
  }
  const started = performance.now();
  const dir = await options.tempDir.create("ops-dump-");
  const out = join(dir.path, "dump");
  let stoppedBecause: string | undefined;
  // The "finished item" lines are parsed: English whatever the locale.
  const { child, exited } = options.pgTools.spawn(options.tool, {
    args: dumpArgs(options, out),
    conn: options.conn,
    stdio: ["ignore", "ignore", "pipe"],
    englishMessages: true,
  });
  const stop = (why: string) => {
    stoppedBecause ??= why;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  const uploads = new FileUploads(options, out, (error) =>
    stop(`upload to s3://${options.bucket}/${options.key}/ failed: ${errorMessage(error)}`),
  );
  const stderr = watchStderr(child, (id) => {
    uploads.finishedItem(id).catch((error: unknown) => stop(`cannot read the dump folder: ${errorMessage(error)}`));
  });
  const onAbort = () => stop(`the run was cancelled (${errorMessage(options.signal?.reason ?? "aborted")})`);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const failed = failureOf(options, await exited);
    if (failed) stoppedBecause ??= failed;
    const uploadedEarly = uploads.queuedCount;
    if (!stoppedBecause) for (const name of await readdir(out)) uploads.queue(name);
    await uploads.settle();
    if (stoppedBecause) throw new DumpError(stoppedBecause, stderr.text(), { cause: uploads.failure });
    const files = [...uploads.files].sort((x, y) => (x.name < y.name ? -1 : 1));
    return {
      files,
      uploadedEarly,
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      sha256: filesDigest(files),
      durationMs: Math.round(performance.now() - started),
      stderr: stderr.text(),
    };
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    throw await cleanUpFailed(options, uploads, error, stderr.text());
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await dir.remove();
  }
}

/** How one database is dumped: its format and workers (`systems/dump-format.ts`), and the run's local disk. */
export interface DumpChoice extends DumpFormat {
  /** The run's local disk (`ctx.tempDir`), where a directory dump's files wait for their upload. */
  tempDir: Pick<TempDirPort, "create">;
  /** Starts pg_dump for a directory dump (`ctx.pgTools`). */
  pgTools: Pick<PgToolsPort, "spawn">;
}

/** The key a backup in this format is stored at: `<ts>.dump`, or the folder `<ts>.dir`. */
export function backupKeyFor(
  choice: Pick<DumpChoice, "format">,
  where: { prefix: string; system: string; database: string; at: Date },
): string {
  return choice.format === "directory"
    ? directoryKey(where.prefix, where.system, where.database, where.at)
    : dumpKey(where.prefix, where.system, where.database, where.at);
}

/** Dumps in the database's format: a custom dump streamed to one object, or a directory dump's files. */
export async function dumpInFormat(
  choice: DumpChoice,
  options: DumpToS3Options,
): Promise<DumpResult & { files?: ManifestFile[] }> {
  if (choice.format === "custom") return dumpToS3(options);
  const { partSizeBytes: _part, queueSize: _queue, baseEnv: _env, ...rest } = options;
  return dumpDirectoryToS3({ ...rest, jobs: choice.jobs, tempDir: choice.tempDir, pgTools: choice.pgTools });
}

/** The manifest's format fields: `custom`, or `directory` with its files and workers. */
export function manifestFormatFields(
  choice: DumpFormat,
  result: { files?: ManifestFile[] },
): Pick<Manifest, "format" | "files" | "jobs"> {
  return choice.format === "directory" && result.files
    ? { format: "directory", files: result.files, jobs: choice.jobs }
    : { format: "custom" };
}

/** Removes a dump whose manifest could not be written: without it, it is not a backup. Never throws. */
export async function discardDump(
  s3: S3Client,
  options: { bucket: string; key: string; files?: ManifestFile[] },
): Promise<void> {
  const keys = options.files ? options.files.map((f) => directoryFileKey(options.key, f.name)) : [options.key];
  await s3
    .send(
      new DeleteObjectsCommand({
        Bucket: options.bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    )
    .catch(() => {});
}
