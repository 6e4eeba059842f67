import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage, errorName, RunbookError } from "../errors.js";
import { HashingStream } from "../hashing-stream.js";
import { libpqEnv, type PgConnection } from "./connection.js";
import type { PgTool } from "./tools.js";

/** How a dump reaches pg_restore. */
export type RestoreMode = "stream" | "download";

/** Options of {@link restoreFromS3}. */
export interface RestoreFromS3Options {
  s3: S3Client;
  bucket: string;
  key: string;
  /** From the manifest: what the object must be. */
  expected: { bytes: number; sha256: string };
  /** pg_restore. */
  tool: PgTool;
  /** The scratch database to restore into. */
  conn: PgConnection;
  /**
   * `stream`: S3 → sha256 → pg_restore's stdin, no temp file, one job; the checksum is known when the
   * last byte has gone through, so a mismatch fails the drill after the restore.
   * `download`: parallel ranged GETs → temp file → sha256, verified before anything is restored, then
   * `pg_restore -j`.
   */
  mode: RestoreMode;
  /** pg_restore --jobs in download mode. */
  jobs?: number;
  /** Ranged GETs in flight in download mode (default 4). */
  downloadConcurrency?: number;
  /** Bytes per ranged GET (default 16 MiB). */
  partBytes?: number;
  /** Where download mode puts its temp file (default: the OS temp dir). */
  tempDir?: string;
  signal?: AbortSignal;
  /** Environment for pg_restore besides the libpq variables (PATH, HOME). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  onBytes?: (bytes: number) => void;
  /**
   * Drop each object before recreating it (`pg_restore --clean --if-exists`): for an on-demand restore
   * told to overwrite a database that is not empty. Drills restore into a new scratch database and never set it.
   */
  clean?: boolean;
}

/** What a restore did. */
export interface RestoreResult {
  mode: RestoreMode;
  /** Bytes read from S3 and their sha256. */
  bytes: number;
  sha256: string;
  /** sha256 and size equal the manifest's. */
  checksumOk: boolean;
  /** False when pg_restore never ran (download mode refuses a dump whose checksum is wrong). */
  ran: boolean;
  exitCode: number | null;
  exitSignal: string | null;
  /** `creating TABLE` lines in pg_restore's verbose output: the tables in the archive. */
  tablesCreated: number;
  /** `processing data for table` lines: the table data entries loaded. */
  tablesLoaded: number;
  /** pg_restore's own error lines (at most 20), without the row values a server message quotes ({@link reportableErrorLine}). */
  errors: string[];
  /** Download time in download mode. */
  downloadMs?: number;
  durationMs: number;
}

/** A restore that could not run to its end (S3 read failed, pg_restore missing, aborted). */
export class RestoreError extends RunbookError {}

const MAX_ERRORS = 20;

/**
 * Server messages that name schema objects only (identifiers, types), never a row's values: these are
 * reported as they are. Any other server message may quote a value (`value "…" is out of range`, a
 * `RAISE` in a check's function, a message in the server's own language) and is withheld.
 */
const IDENTIFIER_ONLY: readonly RegExp[] = [
  /^new row for relation "[^"]*" violates check constraint "[^"]*"$/,
  /^duplicate key value violates unique constraint "[^"]*"$/,
  /^conflicting key value violates exclusion constraint "[^"]*"$/,
  /^insert or update on table "[^"]*" violates foreign key constraint "[^"]*"$/,
  /^null value in column "[^"]*" (?:of relation "[^"]*" )?violates not-null constraint$/,
  /^(?:relation|schema|type|extension|role|index|constraint|sequence|view|trigger|database|table) "[^"]*" (?:already exists|does not exist)$/,
  /^column "[^"]*" (?:of relation "[^"]*" )?(?:already exists|does not exist)$/,
  /^multiple primary keys for table "[^"]*" are not allowed$/,
  /^(?:permission denied|must be owner) (?:for|of) [a-z ]+ "?[\w.$]+"?$/,
  /^password authentication failed for user "[^"]*"$/,
  /^value too long for type [a-z ]+(?:\(\d+\))?$/,
  /^(?:numeric field overflow|extra data after last expected column|out of memory)$/,
  /^missing data for column "[^"]*"$/,
  /^canceling statement due to (?:statement|lock) timeout$/,
];

/** Where a server message starts in a pg_restore line: `ERROR:  `, `FATAL:  `, … (two spaces, as PostgreSQL writes them). */
const SERVER_MESSAGE = /\b(?:ERROR|FATAL|PANIC|WARNING|NOTICE):\s+/;

/**
 * A pg_restore error line as it may go into a report, or undefined when it must not.
 *
 * Why: after a server error come the server's DETAIL (`Failing row contains (1, tok_live_…, 5).`), its
 * CONTEXT (`COPY secrets, line 1: "1	tok_live_…	5"`) and the failed command, and the server's own
 * message may quote a value too. All of these are production rows being restored, and reports go to
 * Slack, PagerDuty and the audit bucket, which must never hold them. So:
 * - only pg_restore's own lines count (they start `pg_restore:`), not its `detail:`/`hint:` lines;
 * - a server message stays only when it is one of {@link IDENTIFIER_ONLY}; otherwise it is withheld,
 *   and what pg_restore was doing (`COPY failed for table "parts"`) still says what failed;
 * - in pg_restore's own words, a trailing quoted value or byte list is removed.
 */
export function reportableErrorLine(line: string): string | undefined {
  const text = line.trim();
  if (!text.startsWith("pg_restore:") || /^pg_restore: (?:detail|hint):/.test(text)) return undefined;
  const server = SERVER_MESSAGE.exec(text);
  if (!server) return text.replace(/: (?:".*|0x[0-9a-f]{2}(?: 0x[0-9a-f]{2})*)$/i, ": [value removed]").slice(0, 500);
  const head = text.slice(0, server.index + server[0].length);
  const message = text.slice(head.length).trim();
  if (IDENTIFIER_ONLY.some((pattern) => pattern.test(message))) return text.slice(0, 500);
  return `${head}[server message withheld: it may quote row values]`.slice(0, 500);
}

/** Parses pg_restore --verbose stderr line by line, keeping counts and errors, not the whole text. */
export class StderrParser {
  tablesCreated = 0;
  tablesLoaded = 0;
  readonly errors: string[] = [];
  private partial = "";

  push(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  end(): void {
    if (this.partial) this.line(this.partial);
    this.partial = "";
  }

  private line(line: string): void {
    if (line.includes('creating TABLE "')) this.tablesCreated++;
    else if (line.includes('processing data for table "')) this.tablesLoaded++;
    else if (/\b(error|fatal|could not)\b/i.test(line) && this.errors.length < MAX_ERRORS) {
      const reportable = reportableErrorLine(line);
      if (reportable) this.errors.push(reportable);
    }
  }
}

function restoreEnv(options: RestoreFromS3Options): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "TZ", "LANG"]) {
    const value = options.baseEnv?.[name];
    if (value) env[name] = value;
  }
  // Messages in English whatever the locale: the verbose lines are parsed.
  env.LC_MESSAGES = "C";
  return { ...env, ...libpqEnv(options.conn) };
}

/**
 * pg_restore's arguments for a scratch restore (no owners, privileges or subscriptions; verbose for the
 * counts); with `file`, a local dump or directory restored with `--jobs`, else a custom dump on stdin.
 */
export function restoreArgs(
  options: Pick<RestoreFromS3Options, "conn" | "clean" | "jobs">,
  file?: string,
  extra: readonly string[] = [],
): string[] {
  return [
    `--dbname=${options.conn.database}`,
    "--no-owner",
    "--no-privileges",
    // A restored subscription must never start pulling from production.
    "--no-subscriptions",
    "--no-password",
    "--verbose",
    ...(options.clean ? ["--clean", "--if-exists"] : []),
    ...(file ? [`--jobs=${Math.max(1, options.jobs ?? 1)}`, ...extra, file] : []),
  ];
}

async function getBody(options: RestoreFromS3Options): Promise<Readable> {
  try {
    const object = await options.s3.send(
      new GetObjectCommand({ Bucket: options.bucket, Key: options.key }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    const body = object.Body;
    if (!body) throw new RestoreError(`s3://${options.bucket}/${options.key} has no body`);
    return body instanceof Readable ? body : Readable.fromWeb(body as never);
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError(`cannot read s3://${options.bucket}/${options.key}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

function spawnRestore(options: RestoreFromS3Options, file?: string) {
  const child = spawn(options.tool.path, restoreArgs(options, file), {
    env: restoreEnv(options),
    stdio: [file ? "ignore" : "pipe", "ignore", "pipe"],
  });
  const parser = new StderrParser();
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => parser.push(text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("close", (code, signal) => {
      parser.end();
      resolve({ code, signal });
    });
  });
  return { child, parser, exited };
}

function aborted(options: RestoreFromS3Options): never {
  const reason = options.signal?.reason;
  throw new RestoreError(`restore stopped: ${reason ? errorMessage(reason) : "aborted"}`, { cause: reason });
}

async function streamRestore(options: RestoreFromS3Options, started: number): Promise<RestoreResult> {
  const body = await getBody(options);
  const hasher = new HashingStream(options.onBytes);
  const { child, parser, exited } = spawnRestore(options);
  const onAbort = () => {
    body.destroy();
    child.kill("SIGTERM");
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const stdin = child.stdin;
    if (!stdin) throw new RestoreError("pg_restore has no stdin");
    // pg_restore may stop reading early (an error, or the end of the archive): EPIPE is its exit
    // status to report, not a crash.
    stdin.on("error", () => {});
    const piped = pipeline(body, hasher, stdin).then(
      () => undefined,
      (error: unknown) => error,
    );
    const [pipeError, exit] = await Promise.all([piped, exited]);
    if (options.signal?.aborted) aborted(options);
    if (exit.error) {
      throw new RestoreError(`could not start ${options.tool.path}: ${exit.error.message}`, { cause: exit.error });
    }
    const readFailed =
      pipeError &&
      !/EPIPE|write after end|ERR_STREAM_PREMATURE_CLOSE|ERR_STREAM_DESTROYED/.test(errorMessage(pipeError));
    if (readFailed && exit.code === 0) {
      throw new RestoreError(`reading the dump failed: ${errorMessage(pipeError)}`, { cause: pipeError });
    }
    const sha256 = hasher.hash.digest("hex");
    return {
      mode: "stream",
      bytes: hasher.bytes,
      sha256,
      checksumOk: sha256 === options.expected.sha256 && hasher.bytes === options.expected.bytes,
      ran: true,
      exitCode: exit.code,
      exitSignal: exit.signal,
      tablesCreated: parser.tablesCreated,
      tablesLoaded: parser.tablesLoaded,
      errors: readFailed ? [`reading the dump failed: ${errorMessage(pipeError)}`, ...parser.errors] : parser.errors,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** A download-mode result whose files did not verify: pg_restore never ran, so nothing was loaded. */
export function refusedRestore(
  verified: Pick<RestoreResult, "mode" | "bytes" | "sha256" | "checksumOk" | "downloadMs">,
  errors: string[],
  started: number,
): RestoreResult {
  return {
    ...verified,
    ran: false,
    exitCode: null,
    exitSignal: null,
    tablesCreated: 0,
    tablesLoaded: 0,
    errors,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Size of one ranged GET in download mode. */
const PART_BYTES = 16 * 1024 * 1024;

/** `bytes 0-16777215/292881234` → 292881234. */
function totalFromContentRange(range: string | undefined): number | undefined {
  const match = /\/(\d+)$/.exec(range ?? "");
  return match ? Number(match[1]) : undefined;
}

/**
 * Downloads the object with parallel ranged GETs (S3 serves one connection at a fraction of what several
 * give), each part written at its offset, and hashes it in order while later parts are still arriving
 * (each finished stretch is read back from the page cache). Parts after the first carry the first's
 * ETag (If-Match), so an object replaced mid-download fails instead of mixing two versions.
 */
async function rangedDownload(options: RestoreFromS3Options, file: string): Promise<{ bytes: number; sha256: string }> {
  const handle = await open(file, "w+");
  const hash = createHash("sha256");
  /** Finished parts not hashed yet: start → end (exclusive). */
  const finished = new Map<number, number>();
  let hashedTo = 0;
  let hashing: Promise<void> = Promise.resolve();
  const hashContiguous = async () => {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let end = finished.get(hashedTo); end !== undefined; end = finished.get(hashedTo)) {
      finished.delete(hashedTo);
      for (let position = hashedTo; position < end; ) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      hashedTo = end;
    }
  };
  let received = 0;
  try {
    let etag: string | undefined;
    const fetchPart = async (start: number, end: number | undefined): Promise<number | undefined> => {
      const object = await options.s3.send(
        new GetObjectCommand({
          Bucket: options.bucket,
          Key: options.key,
          ...(end === undefined ? {} : { Range: `bytes=${start}-${end}` }),
          ...(etag ? { IfMatch: etag } : {}),
        }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      etag ??= object.ETag;
      const body = object.Body instanceof Readable ? object.Body : Readable.fromWeb(object.Body as never);
      let position = start;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        await handle.write(chunk, 0, chunk.length, position);
        position += chunk.length;
        received += chunk.length;
        options.onBytes?.(received);
      }
      finished.set(start, position);
      hashing = hashing.then(hashContiguous);
      // No Content-Range: the server ignored the range and sent everything.
      return object.ContentRange ? totalFromContentRange(object.ContentRange) : undefined;
    };
    const partBytes = Math.max(1, options.partBytes ?? PART_BYTES);
    let total: number | undefined;
    try {
      total = await fetchPart(0, partBytes - 1);
    } catch (error) {
      // An empty object has no byte 0 to range over.
      if (errorName(error) !== "InvalidRange") throw error;
      total = await fetchPart(0, undefined);
    }
    const ranges: [number, number][] = [];
    for (let start = partBytes; total !== undefined && start < total; start += partBytes) {
      ranges.push([start, Math.min(start + partBytes, total) - 1]);
    }
    let next = 0;
    const worker = async () => {
      for (let range = ranges[next++]; range; range = ranges[next++]) await fetchPart(range[0], range[1]);
    };
    await Promise.all(Array.from({ length: Math.min(options.downloadConcurrency ?? 4, ranges.length) }, worker));
    await hashing;
    if (finished.size > 0) throw new RestoreError(`download left a gap at byte ${hashedTo}`);
    return { bytes: hashedTo, sha256: hash.digest("hex") };
  } finally {
    await hashing.catch(() => {});
    await handle.close();
  }
}

async function downloadRestore(options: RestoreFromS3Options, started: number): Promise<RestoreResult> {
  const dir = await mkdtemp(join(options.tempDir ?? tmpdir(), "ops-drill-"));
  try {
    const file = join(dir, "backup.dump");
    let downloaded: { bytes: number; sha256: string };
    try {
      downloaded = await rangedDownload(options, file);
    } catch (error) {
      if (options.signal?.aborted) aborted(options);
      throw new RestoreError(`downloading s3://${options.bucket}/${options.key} failed: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    const downloadMs = Math.round(performance.now() - started);
    const { bytes, sha256 } = downloaded;
    const checksumOk = sha256 === options.expected.sha256 && bytes === options.expected.bytes;
    const base = { mode: "download" as const, bytes, sha256, checksumOk, downloadMs };
    // Verified before restoring: a corrupt dump is never loaded.
    if (!checksumOk) return refusedRestore(base, [], started);
    const { child, parser, exited } = spawnRestore(options, file);
    const onAbort = () => child.kill("SIGTERM");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const exit = await exited;
      if (options.signal?.aborted) aborted(options);
      if (exit.error) {
        throw new RestoreError(`could not start ${options.tool.path}: ${exit.error.message}`, { cause: exit.error });
      }
      return {
        ...base,
        ran: true,
        exitCode: exit.code,
        exitSignal: exit.signal,
        tablesCreated: parser.tablesCreated,
        tablesLoaded: parser.tablesLoaded,
        errors: parser.errors,
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Restores a pg_dump (custom format) from S3 into a database, checking the object's sha256 and size
 * against its manifest on the way. Never throws for what pg_restore reports (exit status and errors
 * are in the result, for validation to judge); throws {@link RestoreError} when the restore could not
 * be carried out at all.
 */
export async function restoreFromS3(options: RestoreFromS3Options): Promise<RestoreResult> {
  if (options.signal?.aborted) aborted(options);
  const started = performance.now();
  return options.mode === "download" ? downloadRestore(options, started) : streamRestore(options, started);
}
