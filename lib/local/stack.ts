/**
 * The embedded stack behind the `demo` system: a real PostgreSQL (pg_ctl keeps it running on its own)
 * and a real S3-protocol server (s3rver, in a detached process of its own), both with their state under
 * one directory (`.state/`). `ops stack up` leaves them running so every runbook works with
 * `--system demo`; `npm start` uses the same code and stops what it started. The running stack is
 * described by `stack.json` in that directory; a lock file keeps two starts from racing.
 */
import { spawn } from "node:child_process";
import { mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage, OpsError } from "../errors.js";
import { startLocalPostgres, stopLocalPostgres } from "./postgres.js";
import { LOCAL_CREDENTIALS } from "./s3.js";
import { ensureDatabase, seedInventory } from "./seed.js";

/** What `stack.json` records about a running stack. */
export interface StackRecord {
  stateDir: string;
  startedAt: string;
  postgres: { port: number; dataDir: string };
  s3: { endpoint: string; pid: number; directory: string; buckets: string[] };
  databases: string[];
}

/** The stack cannot start, or another process holds its directory. */
export class StackError extends OpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STACK", message, options);
  }
}

const recordPath = (stateDir: string) => join(stateDir, "stack.json");
const lockPath = (stateDir: string) => join(stateDir, "stack.lock");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running stack's record, or undefined when none is recorded. */
export async function readStack(stateDir: string): Promise<StackRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordPath(stateDir), "utf8")) as StackRecord;
  } catch {
    return undefined;
  }
}

/**
 * Holds `stack.lock` for the time of `work`: a second start (another `ops stack up`, `npm start`, or a
 * demo run) is refused with who holds it; a lock whose process is gone is taken over.
 */
export async function withStackLock<T>(stateDir: string, holder: string, work: () => Promise<T>): Promise<T> {
  await mkdir(stateDir, { recursive: true });
  const path = lockPath(stateDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(JSON.stringify({ pid: process.pid, holder, since: new Date().toISOString() }));
      await handle.close();
      try {
        return await work();
      } finally {
        await rm(path, { force: true });
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const held = JSON.parse(await readFile(path, "utf8").catch(() => "{}")) as {
        pid?: number;
        holder?: string;
        since?: string;
      };
      if (held.pid && alive(held.pid)) {
        throw new StackError(
          `another run holds ${stateDir} (${held.holder ?? "?"}, pid ${held.pid}, since ${held.since ?? "?"}): wait for it, or stop it`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new StackError(`could not take the lock ${path}`);
}

/**
 * s3rver keeps the parts of an upload that was never completed under `._S3rver_uploads/` forever (it has
 * no AbortMultipartUpload). Nothing is uploading while the stack starts, so any left are from a run
 * that was interrupted: remove them.
 */
export async function sweepStaleUploads(s3Directory: string): Promise<number> {
  let removed = 0;
  for (const bucket of await readdir(s3Directory).catch(() => [] as string[])) {
    const uploads = join(s3Directory, bucket, "._S3rver_uploads");
    const entries = await readdir(uploads).catch(() => [] as string[]);
    for (const entry of entries) await rm(join(uploads, entry), { recursive: true, force: true });
    removed += entries.length;
  }
  return removed;
}

async function startS3Process(options: { directory: string; buckets: string[]; serveCommand: string[] }) {
  const portFile = join(options.directory, "..", "s3.port");
  await rm(portFile, { force: true });
  const [program = process.execPath, ...args] = options.serveCommand;
  const child = spawn(program, [...args, "--dir", options.directory, "--port-file", portFile, ...options.buckets], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  for (let i = 0; i < 200; i++) {
    const text = await readFile(portFile, "utf8").catch(() => "");
    if (text.trim()) return { pid: child.pid ?? 0, endpoint: `http://127.0.0.1:${text.trim()}` };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  if (child.pid && alive(child.pid)) process.kill(child.pid, "SIGTERM");
  throw new StackError(`the S3 server did not start (${options.serveCommand.join(" ")})`);
}

/** Options of {@link stackUp}. */
export interface StackUpOptions {
  stateDir: string;
  buckets: string[];
  /** Databases to create; the first is seeded with the sample inventory on first start. */
  databases: string[];
  /** How to start the detached S3 server (`ops stack serve-s3` through this same executable). */
  serveCommand: string[];
  say?: (line: string) => void;
}

/**
 * Starts the stack and records it, or returns the one already running. The caller holds the lock
 * ({@link withStackLock}); `started` says whether this call started it (and so should stop it).
 */
export async function ensureStack(options: StackUpOptions): Promise<{ stack: StackRecord; started: boolean }> {
  const say = options.say ?? (() => {});
  const existing = await readStack(options.stateDir);
  if (existing && (await stackHealth(existing)).healthy) return { stack: existing, started: false };
  if (existing) await stopStack(existing);
  const postgres = await startLocalPostgres({ dataDir: join(options.stateDir, "pg") });
  const s3Directory = join(options.stateDir, "s3");
  const swept = await sweepStaleUploads(s3Directory);
  if (swept) say(`removed ${swept} unfinished upload${swept === 1 ? "" : "s"} left by an interrupted run`);
  let s3: { pid: number; endpoint: string };
  try {
    s3 = await startS3Process({ directory: s3Directory, buckets: options.buckets, serveCommand: options.serveCommand });
  } catch (error) {
    await postgres.stop();
    throw error;
  }
  for (const database of options.databases) await ensureDatabase(postgres.connection(), database);
  const [first] = options.databases;
  if (first && (await seedInventory(postgres.connection(first), { scale: 1 })).seeded) {
    say(`seeded ${first} with a sample inventory (vehicles, parts, sales)`);
  }
  const stack: StackRecord = {
    stateDir: options.stateDir,
    startedAt: new Date().toISOString(),
    postgres: { port: postgres.port, dataDir: postgres.dataDir },
    s3: { ...s3, directory: s3Directory, buckets: options.buckets },
    databases: options.databases,
  };
  await writeFile(recordPath(options.stateDir), `${JSON.stringify(stack, null, 2)}\n`);
  return { stack, started: true };
}

/** `ops stack up`: {@link ensureStack} under the lock. */
export function stackUp(options: StackUpOptions): Promise<{ stack: StackRecord; started: boolean }> {
  return withStackLock(options.stateDir, "ops stack up", () => ensureStack(options));
}

/** Whether each part of a recorded stack answers. */
export async function stackHealth(stack: StackRecord): Promise<{ healthy: boolean; postgres: string; s3: string }> {
  const pidFile = join(stack.postgres.dataDir, "postmaster.pid");
  const pgPid = Number((await readFile(pidFile, "utf8").catch(() => "")).split("\n")[0]);
  const postgres = pgPid && alive(pgPid) ? `up on 127.0.0.1:${stack.postgres.port} (pid ${pgPid})` : "down";
  let s3 = "down";
  if (alive(stack.s3.pid)) {
    try {
      const response = await fetch(stack.s3.endpoint, { signal: AbortSignal.timeout(2000) });
      s3 = `up on ${stack.s3.endpoint} (pid ${stack.s3.pid}, HTTP ${response.status})`;
    } catch (error) {
      s3 = `pid ${stack.s3.pid} alive but not answering: ${errorMessage(error)}`;
    }
  }
  return { healthy: postgres !== "down" && s3.startsWith("up"), postgres, s3 };
}

async function stopStack(stack: StackRecord): Promise<void> {
  await stopLocalPostgres(stack.postgres.dataDir);
  if (alive(stack.s3.pid)) process.kill(stack.s3.pid, "SIGTERM");
  for (let i = 0; i < 40 && alive(stack.s3.pid); i++) await sleep(50);
}

/** Stops the recorded stack and removes its record; false when none was recorded. The caller holds the lock. */
export async function removeStack(stateDir: string): Promise<boolean> {
  const stack = await readStack(stateDir);
  if (!stack) return false;
  await stopStack(stack);
  await rm(recordPath(stateDir), { force: true });
  return true;
}

/** `ops stack down`: {@link removeStack} under the lock. */
export function stackDown(stateDir: string): Promise<boolean> {
  return withStackLock(stateDir, "ops stack down", () => removeStack(stateDir));
}

/**
 * The environment that points the edge at the stack: the standard SDK clients at the S3 server, the demo
 * database's credentials variable and the drill target at the local server.
 */
export function stackEnv(stack: StackRecord): Record<string, string> {
  // The stack serves plain TCP on 127.0.0.1 (the demo catalogue opts out of TLS for it, a local host only).
  const url = (database: string) => `postgres://postgres@127.0.0.1:${stack.postgres.port}/${database}?sslmode=disable`;
  return {
    AWS_ENDPOINT_URL_S3: stack.s3.endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: "us-east-1",
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
    OPS_S3_FORCE_PATH_STYLE: "1",
    ...(stack.databases[0] ? { OPS_DEMO_DATABASE_URL: url(stack.databases[0]) } : {}),
  };
}
