import { spawn } from "node:child_process";
import { finished } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { errorMessage, RunbookError } from "../errors.js";
import { libpqEnv, type PgConnection } from "../postgres/connection.js";
import type { PgTool } from "../postgres/tools.js";
import { IncompleteUploadError, MultipartUploadStream } from "./multipart-upload.js";
import { bufferedCommand, findStdbuf, PG_DUMP_STDOUT_BUFFER } from "./stdout-buffer.js";

/** Options of {@link dumpToS3}. */
export interface DumpToS3Options {
  tool: PgTool;
  conn: PgConnection;
  /** pg_dump -Z level; negative leaves pg_dump at its own default (what naive tools do). */
  compression: number;
  s3: S3Client;
  bucket: string;
  key: string;
  /** SSE-KMS with this key when set, else SSE-S3. */
  kmsKeyId?: string;
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
  /** Multipart part size; (queueSize + 1) × this is the memory the upload uses. */
  partSizeBytes?: number;
  queueSize?: number;
  /** Environment for pg_dump besides the libpq variables (PATH, locale). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /** An exported snapshot (`pg_export_snapshot()`) the dump must see: `pg_dump --snapshot`. */
  snapshot?: string;
  /**
   * pg_dump's stdout buffer in bytes, set through `stdbuf` when one works on the base PATH (see
   * `stdout-buffer.ts`); 0 leaves pg_dump's own 4 KiB. Default {@link PG_DUMP_STDOUT_BUFFER}.
   */
  stdoutBufferBytes?: number;
}

/** What a finished dump produced. */
export interface DumpResult {
  bytes: number;
  sha256: string;
  durationMs: number;
  /** pg_dump's stderr, secrets removed. */
  stderr: string;
}

const STDERR_LIMIT = 16_384;

/** pg_dump failed or the upload failed; nothing was left in the bucket. */
export class DumpError extends RunbookError {
  readonly stderr: string;

  constructor(message: string, stderr: string, options?: { cause?: unknown }) {
    super(message, options);
    this.stderr = stderr;
  }
}

/** How pg_dump ended: its exit code or signal, or the error that kept it from starting. */
type ExitOutcome = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

/** The variables pg_dump gets from the base environment: only these, so nothing else leaks into the child. */
function passedEnv(baseEnv: DumpToS3Options["baseEnv"]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "LANG", "LC_ALL", "TZ", "HOME"]) {
    const value = baseEnv?.[name];
    if (value) env[name] = value;
  }
  return env;
}

/** pg_dump's arguments: custom format, the compression level when one is set, the snapshot when given. */
function pgDumpArgs(options: Pick<DumpToS3Options, "compression" | "snapshot">): string[] {
  return [
    "--format=custom",
    ...(options.compression >= 0 ? [`--compress=${options.compression}`] : []),
    "--no-password",
    "--no-sync",
    ...(options.snapshot ? [`--snapshot=${options.snapshot}`] : []),
  ];
}

/** Why a pg_dump that did not exit 0 failed, in words. */
function exitProblem(outcome: ExitOutcome, toolPath: string): string {
  if (outcome.error) return `could not start ${toolPath}: ${outcome.error.message}`;
  if (outcome.signal) return `pg_dump was killed by ${outcome.signal}`;
  return `pg_dump exited with code ${outcome.code}`;
}

/**
 * Throws the one error that tells what went wrong once pg_dump and the upload have both settled: our own
 * reason for stopping pg_dump first, then pg_dump's failure, then the upload's. Returns when both succeeded.
 */
function throwIfFailed(settled: {
  dump: PromiseSettledResult<unknown>;
  put: PromiseSettledResult<unknown>;
  stoppedBecause: string | undefined;
  stderr: string;
  /** `s3://bucket/key`, for the upload's error. */
  target: string;
}): void {
  const { dump, put, stoppedBecause } = settled;
  if (stoppedBecause) {
    throw new DumpError(stoppedBecause, settled.stderr, {
      cause: put.status === "rejected" ? put.reason : undefined,
    });
  }
  if (dump.status === "rejected") {
    // pg_dump's failure is the story; an upload that could not be aborted is worth a line in it.
    if (put.status === "rejected" && put.reason instanceof IncompleteUploadError && dump.reason instanceof DumpError) {
      throw new DumpError(
        `${dump.reason.message}; its multipart upload could not be aborted (${errorMessage(put.reason.cause)}): the bucket's lifecycle rule removes its parts`,
        dump.reason.stderr,
        { cause: put.reason },
      );
    }
    throw dump.reason;
  }
  if (put.status === "rejected") {
    throw new DumpError(`upload to ${settled.target} failed: ${errorMessage(put.reason)}`, "", {
      cause: put.reason,
    });
  }
}

/**
 * Streams `pg_dump --format=custom` straight into an S3 multipart upload ({@link MultipartUploadStream}),
 * hashing on the way: no temp file, memory fixed by the part pool. The upload only ends once pg_dump has
 * exited 0, so a dump that dies mid-stream can never complete the object; the multipart upload is
 * aborted instead.
 */
export async function dumpToS3(options: DumpToS3Options): Promise<DumpResult> {
  const started = performance.now();
  const bytes = options.stdoutBufferBytes ?? PG_DUMP_STDOUT_BUFFER;
  const command = bufferedCommand({
    tool: options.tool.path,
    args: pgDumpArgs(options),
    stdbuf: bytes > 0 ? await findStdbuf(options.baseEnv?.PATH, options.tool.path) : undefined,
    bytes,
  });
  // An abort listener never fires for a signal that is already aborted (a SIGTERM during the setup):
  // start nothing rather than a whole dump that nobody waits for.
  if (options.signal?.aborted) {
    throw new DumpError(`the run was cancelled (${errorMessage(options.signal.reason ?? "aborted")})`, "");
  }
  const child = spawn(command.command, command.args, {
    env: { ...passedEnv(options.baseEnv), ...libpqEnv(options.conn) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += text;
  });
  const exited = new Promise<ExitOutcome>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("close", (code, signal) => resolve({ code, signal }));
  });

  const upload = new MultipartUploadStream({
    s3: options.s3,
    bucket: options.bucket,
    key: options.key,
    ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
    ...(options.partSizeBytes ? { partSizeBytes: options.partSizeBytes } : {}),
    ...(options.queueSize ? { queueSize: options.queueSize } : {}),
    ...(options.onBytes ? { onBytes: options.onBytes } : {}),
  });
  const uploaded = finished(upload);
  const running = () => child.exitCode === null && child.signalCode === null;
  /** Why we stopped pg_dump ourselves: then its death is a consequence, not the cause to report. */
  let stoppedBecause: string | undefined;
  /**
   * Stops pg_dump and throws away what it has written but we have not read. Why the draining: the
   * child only emits `close` (which `exited` waits for) once its stdout has ended, and a stdout that
   * nobody reads never ends, so without it a stopped dump would hang until the Lambda timeout.
   */
  const stop = (signal: NodeJS.Signals) => {
    child.stdout.unpipe(upload);
    child.stdout.resume();
    if (running()) child.kill(signal);
  };
  // A failed upload stops reading pg_dump's output; stop pg_dump so it does not block on a full pipe.
  uploaded.catch((error: unknown) => {
    if (running()) stoppedBecause ??= `upload to s3://${options.bucket}/${options.key} failed: ${errorMessage(error)}`;
    stop("SIGKILL");
  });
  child.stdout.pipe(upload, { end: false });
  const dumpOutcome = exited.then((outcome) => {
    if (outcome.code === 0) {
      upload.end();
      return outcome;
    }
    const error = new DumpError(exitProblem(outcome, options.tool.path), stderr.trim());
    upload.destroy(error);
    throw error;
  });

  // SIGTERM first, so pg_dump can close its connection; the destroyed upload then fails and its
  // handler above sends SIGKILL to a pg_dump that has not exited by then.
  const onAbort = () => {
    stoppedBecause ??= `the run was cancelled (${errorMessage(options.signal?.reason ?? "aborted")})`;
    stop("SIGTERM");
    upload.destroy(new Error(stoppedBecause));
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const [dump, put] = await Promise.allSettled([dumpOutcome, uploaded]);
    throwIfFailed({
      dump,
      put,
      stoppedBecause,
      stderr: stderr.trim(),
      target: `s3://${options.bucket}/${options.key}`,
    });
  } catch (error) {
    stop("SIGKILL");
    if (error instanceof DumpError) throw error;
    throw new DumpError(errorMessage(error), stderr.trim(), { cause: error });
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return {
    bytes: upload.bytes,
    sha256: upload.hash.digest("hex"),
    durationMs: Math.round(performance.now() - started),
    stderr: stderr.trim(),
  };
}
