/**
 * Backup benchmark (not part of `npm test`): `npm run bench:backup [-- --quick] [-- --repeat N] [-- --data-dir D]`.
 *
 * On generated PartPal-shaped databases (≈0.25 GB and ≥1 GB), in one run on this machine, repetitions
 * PAIRED (every measurement of a repetition back to back, each ratio taken within its repetition, the
 * median printed beside every repetition's value):
 *   - raw `pg_dump -Fc -Z1` to /dev/null, and `pg_dump | sha256sum > /dev/null` (the cheapest native
 *     consumer that hashes), with sha256sum's own CPU time (its shell's cutime + cstime in /proc);
 *   - the backup pipeline (pg_dump → sha256 + CRC32 → S3 multipart, `lib/backup/dump-to-s3.ts`) into an
 *     endpoint that discards the bytes (`discarding-s3.ts`): its wall time and the Node process's CPU
 *     from just before the dump to its end (start-up excluded);
 *   - the same pipeline into the local S3 server (s3rver), and at pg_dump's default compression there;
 *   - peak RSS of the Node process running each pipeline.
 * It prints each target of issue #18's restated benchmark, what was measured and whether it is met:
 *   1. pipeline CPU per MB of dump ÷ sha256sum's CPU per MB of the same dump ≤ 2;
 *   2. pipeline into the discarding endpoint ÷ `pg_dump | sha256sum` (throughput, i.e. inverse wall time) ≥ 0.95;
 *   3. ≥ 2× the default-compression pipeline in every repetition of the large database (the small one's
 *      lowest is printed beside);
 *   4. peak RSS ≤ 200 MB, and flat from the small database to the large one;
 * and, beside them, pipeline ÷ raw into s3rver with the CPU bound (what the cores could give at best).
 * Targets 1–3 are judged on the large database, as the issue states them; every figure is printed for both sizes.
 * `--data-dir D` keeps the PostgreSQL cluster (and its seeded databases) in D between runs.
 * `BENCH_STDOUT_BUFFER=0` runs the pipeline's pg_dump without its stdout buffer (`lib/backup/stdout-buffer.ts`),
 * for a before/after; the run prints which way it went.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { dumpToS3 } from "../lib/backup/dump-to-s3.js";
import { findStdbuf, PG_DUMP_STDOUT_BUFFER } from "../lib/backup/stdout-buffer.js";
import { startLocalPostgres } from "../lib/local/postgres.js";
import { startLocalS3 } from "../lib/local/s3.js";
import { ensureDatabase, seedInventory } from "../lib/local/seed.js";
import { libpqEnv, parseDatabaseUrl } from "../lib/postgres/connection.js";
import { readServerInfo } from "../lib/postgres/server.js";
import { chooseTool, findTools } from "../lib/postgres/tools.js";
import { startDiscardingS3 } from "./discarding-s3.js";

const BUCKET = "bench";
const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};

/** Child mode: run one pipeline and print its figures as JSON (so peak RSS is this pipeline's alone). */
async function child(): Promise<void> {
  const [, url = "", endpoint = "", compressionText = "1"] = args;
  const conn = parseDatabaseUrl(url);
  const server = await readServerInfo(conn);
  const tool = chooseTool(await findTools({ name: "pg_dump", path: process.env.PATH ?? "" }), server, "pg_dump");
  const s3 = new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  // Time the server spends completing the upload (s3rver re-reads every part and rewrites the object
  // here): a cost of the local server, reported beside the total so the pipeline's own overhead shows.
  let completeMs = 0;
  s3.middlewareStack.add(
    (next, context) => async (input) => {
      const started = performance.now();
      try {
        return await next(input);
      } finally {
        if (context.commandName === "CompleteMultipartUploadCommand") completeMs += performance.now() - started;
      }
    },
    { step: "initialize", name: "timeComplete" },
  );
  // The runbook lists the bucket (recent backups) before it dumps, so its client is warm by then.
  await s3.send(new HeadBucketCommand({ Bucket: BUCKET }));
  const rssBeforeMB = process.memoryUsage().rss / 1024 / 1024;
  const cpuBefore = process.cpuUsage();
  const result = await dumpToS3({
    ...(process.env.BENCH_PART_MB ? { partSizeBytes: Number(process.env.BENCH_PART_MB) * 1024 * 1024 } : {}),
    ...(process.env.BENCH_QUEUE ? { queueSize: Number(process.env.BENCH_QUEUE) } : {}),
    ...(process.env.BENCH_STDOUT_BUFFER ? { stdoutBufferBytes: Number(process.env.BENCH_STDOUT_BUFFER) } : {}),
    tool,
    conn,
    compression: Number(compressionText),
    s3,
    bucket: BUCKET,
    key: `bench/${Date.now()}-${compressionText}.dump`,
    baseEnv: process.env,
  });
  const cpu = process.cpuUsage(cpuBefore);
  const maxRssKB = process.resourceUsage().maxRSS;
  const figures: PipelineFigures = {
    ms: result.durationMs,
    completeMs,
    bytes: result.bytes,
    maxRssMB: maxRssKB / 1024,
    rssBeforeMB,
    cpuMs: (cpu.user + cpu.system) / 1000,
    userMs: cpu.user / 1000,
    serverCpuMs: 0,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

/** What one pipeline run measured; `serverCpuMs` is filled in by the parent, which hosts the S3 server. */
interface PipelineFigures {
  ms: number;
  completeMs: number;
  bytes: number;
  maxRssMB: number;
  /** RSS before the pipeline started: Node, tsx and the SDK, loaded. */
  rssBeforeMB: number;
  /** CPU time of the Node process running the pipeline, from just before the dump to its end (start-up excluded). */
  cpuMs: number;
  /** The user-mode part of it (the rest is the kernel's: pipe reads, socket writes). */
  userMs: number;
  /** CPU time of the S3 server (this parent process, otherwise idle) during the run. */
  serverCpuMs: number;
}

async function runChild(url: string, endpoint: string, compression: string): Promise<PipelineFigures> {
  const serverCpu = process.cpuUsage();
  const figures = await spawnChild(url, endpoint, compression);
  const spent = process.cpuUsage(serverCpu);
  return { ...figures, serverCpuMs: (spent.user + spent.system) / 1000 };
}

function spawnChild(url: string, endpoint: string, compression: string): Promise<PipelineFigures> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", import.meta.filename, "--child", url, endpoint, compression],
      {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      },
    );
    let out = "";
    proc.stdout.on("data", (d) => {
      out += String(d);
    });
    proc.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`pipeline child exited ${code}`)),
    );
  });
}

/**
 * CPU time the whole machine has spent busy so far (user, nice, system, irq, softirq in /proc/stat), in
 * ms; undefined where there is no /proc/stat. Read around the raw dump, it tells how much of the cores
 * pg_dump and the PostgreSQL backend leave to anything else that shares them.
 */
async function machineBusyMs(): Promise<number | undefined> {
  const line = await readFile("/proc/stat", "utf8").then(
    (text) => text.split("\n", 1)[0] ?? "",
    () => "",
  );
  const [label, user, nice, system, , , irq, softirq] = line.trim().split(/\s+/);
  if (label !== "cpu") return undefined;
  // Ticks of USER_HZ, which is 100 on every Linux this runs on.
  return [user, nice, system, irq, softirq].reduce((sum, ticks) => sum + Number(ticks ?? 0), 0) * 10;
}

/** Raw pg_dump with the same flags, output to /dev/null (the baseline), and the machine's busy CPU then. */
async function rawDump(url: string, compression: string, pgDump: string): Promise<{ ms: number; busyMs?: number }> {
  const before = await machineBusyMs();
  const ms = await rawDumpMs(url, compression, pgDump);
  const after = await machineBusyMs();
  return before === undefined || after === undefined ? { ms } : { ms, busyMs: after - before };
}

function rawDumpMs(url: string, compression: string, pgDump: string): Promise<number> {
  const conn = parseDatabaseUrl(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(
      pgDump,
      ["--format=custom", `--compress=${compression}`, "--no-password", "--no-sync", "--file=/dev/null"],
      {
        env: { PATH: process.env.PATH ?? "", ...libpqEnv(conn) },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    proc.stderr.on("data", (d) => {
      stderr += String(d);
    });
    proc.on("close", (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`pg_dump exited ${code}: ${stderr}`)),
    );
  });
}

/**
 * `pg_dump | sha256sum > /dev/null`, the dump's flags as the pipeline's: its wall time, and sha256sum's
 * CPU time, read as the cutime + cstime (ticks of 10 ms) of the shell that waited for it alone.
 */
function hashDump(url: string, pgDump: string): Promise<{ ms: number; hashCpuMs: number }> {
  const conn = parseDatabaseUrl(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(
      "sh",
      [
        "-c",
        `"$0" "$@" | sh -c 'sha256sum > /dev/null && cat /proc/$$/stat'`,
        pgDump,
        "--format=custom",
        "--compress=1",
        "--no-password",
        "--no-sync",
      ],
      { env: { PATH: process.env.PATH ?? "", ...libpqEnv(conn) }, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    proc.stdout.on("data", (d) => {
      out += String(d);
    });
    proc.on("close", (code) => {
      const ms = performance.now() - started;
      // Fields after the command name "(sh)": state is field 3, cutime and cstime fields 16 and 17.
      const fields = out
        .slice(out.lastIndexOf(")") + 2)
        .trim()
        .split(/\s+/);
      const ticks = Number(fields[13]) + Number(fields[14]);
      if (code !== 0 || !Number.isFinite(ticks)) reject(new Error(`pg_dump | sha256sum exited ${code}: ${out}`));
      else resolve({ ms, hashCpuMs: ticks * 10 });
    });
  });
}

/** One repetition: every measurement back to back, so the ratios taken within it share the machine's state. */
interface Repetition {
  raw: { ms: number; busyMs?: number };
  hash: { ms: number; hashCpuMs: number };
  discarded: PipelineFigures;
  pipeline: PipelineFigures;
  naive: PipelineFigures;
}

async function repetition(
  url: string,
  pgDump: string,
  endpoints: { s3: string; discard: string },
): Promise<Repetition> {
  const raw = await rawDump(url, "1", pgDump);
  const hash = await hashDump(url, pgDump);
  const discarded = await runChild(url, endpoints.discard, "1");
  const pipeline = await runChild(url, endpoints.s3, "1");
  const naive = await runChild(url, endpoints.s3, "-1");
  return { raw, hash, discarded, pipeline, naive };
}

/** What one database size measured, reduced to the figures the targets judge. */
interface SizeResult {
  name: string;
  databaseMB: number;
  dumpMB: number;
  reps: Repetition[];
  loadBefore: number[];
  loadAfter: number[];
}

const mb = (bytes: number) => bytes / 1024 / 1024;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const f2 = (n: number) => n.toFixed(2);
const list = (values: number[], digits = 2) => values.map((v) => v.toFixed(digits)).join(", ");
const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" / ");

/** Pipeline CPU per MB ÷ sha256sum CPU per MB, per repetition (both over the same dump of the same database). */
const cpuRatios = (r: SizeResult) => r.reps.map((x) => x.discarded.cpuMs / Math.max(1, x.hash.hashCpuMs));
/** Throughput ratio = inverse wall-time ratio: `pg_dump | sha256sum` time ÷ pipeline time. */
const throughputRatios = (r: SizeResult) => r.reps.map((x) => x.hash.ms / x.discarded.ms);
const naiveRatios = (r: SizeResult) => r.reps.map((x) => x.naive.ms / x.pipeline.ms);
const peakRss = (r: SizeResult) =>
  Math.max(...r.reps.flatMap((x) => [x.discarded.maxRssMB, x.pipeline.maxRssMB, x.naive.maxRssMB]));

/** How much the large database's peak RSS may exceed the small one's and still count as flat: two part buffers. */
const FLAT_TOLERANCE_MB = 16;

function verdict(ok: boolean): string {
  return ok ? "met" : "NOT MET";
}

function targetLines(small: SizeResult, large: SizeResult): string[] {
  const row = (target: string, measured: string, ok: boolean) =>
    `  ${target.padEnd(58)} ${measured.padEnd(44)} ${verdict(ok)}`;
  const cpu = median(cpuRatios(large));
  const tput = median(throughputRatios(large));
  // The issue states every target on the ≥ 1 GB database; the small one's lowest is printed beside (its
  // 42 MB dump is short enough for fixed costs — start-up, the first part — to weigh on the ratio).
  const naive = naiveRatios(large);
  const naiveSmall = naiveRatios(small);
  const rssSmall = peakRss(small);
  const rssLarge = peakRss(large);
  return [
    `targets (1, 2: medians of the ${large.name} database's paired repetitions; 3: its every repetition):`,
    row("1. pipeline CPU/MB ÷ sha256sum CPU/MB ≤ 2.00", `${f2(cpu)} (each: ${list(cpuRatios(large))})`, cpu <= 2),
    row(
      "2. pipeline→discarding ÷ pg_dump|sha256sum throughput ≥ 0.95",
      // Three decimals: a median of 0.949 must not read as a met 0.95.
      `${tput.toFixed(3)} (each: ${list(throughputRatios(large))})`,
      tput >= 0.95,
    ),
    row(
      `3. ≥ 2× default compression, every repetition (${large.name})`,
      `lowest ${f2(Math.min(...naive))}× (${small.name}, not judged: ${f2(Math.min(...naiveSmall))}×)`,
      Math.min(...naive) >= 2,
    ),
    row(
      "4a. peak RSS ≤ 200 MB",
      `${rssLarge.toFixed(0)} MB (${small.name}: ${rssSmall.toFixed(0)} MB)`,
      Math.max(rssSmall, rssLarge) <= 200,
    ),
    row(
      `4b. peak RSS flat ${small.name} → ${large.name} (≤ +${FLAT_TOLERANCE_MB} MB)`,
      `${(rssLarge - rssSmall).toFixed(0)} MB more`,
      rssLarge - rssSmall <= FLAT_TOLERANCE_MB,
    ),
  ];
}

/** Says so when other work shared the cores: CPU times inflate and wall-time ratios scatter then. */
function busyWarning(results: SizeResult[]): string[] {
  const highest = Math.max(...results.flatMap((r) => [r.loadBefore[0] ?? 0, r.loadAfter[0] ?? 0]));
  const cores = availableParallelism();
  return highest > cores
    ? [
        `WARNING: 1-minute load average reached ${highest.toFixed(1)} on ${cores} cores (other work shared them): figures are noisy, re-run on a quiet machine`,
      ]
    : [];
}

/** The CPU bound of the s3rver run: raw's busy CPU plus the extra CPU, spread perfectly over every core. */
function cpuBound(r: SizeResult): string {
  const busy = r.reps.flatMap((x) => (x.raw.busyMs === undefined ? [] : [x.raw.busyMs]));
  if (!busy.length) return "CPU bound: no /proc/stat";
  const cores = availableParallelism();
  const rawMs = median(r.reps.map((x) => x.raw.ms));
  const busyMs = median(busy);
  const serverCpuMs = median(r.reps.map((x) => x.pipeline.serverCpuMs));
  const pipelineCpuMs = median(r.reps.map((x) => x.pipeline.cpuMs));
  const bound = (extraMs: number) => f2(rawMs / Math.max(rawMs, (busyMs + extraMs) / cores));
  return `CPU bound: raw keeps the ${cores} cores ${((busyMs / rawMs / cores) * 100).toFixed(0)} % busy, so pipeline÷raw cannot exceed ${bound(serverCpuMs)} with s3rver's CPU alone, ${bound(serverCpuMs + pipelineCpuMs)} with the pipeline's too`;
}

function sizeLines(r: SizeResult): string[] {
  const reps = r.reps;
  const perMB = (ms: number) => ms / r.dumpMB;
  const rawMs = median(reps.map((x) => x.raw.ms));
  const s3Ratios = reps.map((x) => x.raw.ms / x.pipeline.ms);
  return [
    `${r.name}: database ${r.databaseMB.toFixed(0)} MB, dump ${r.dumpMB.toFixed(0)} MB; load average before ${load(r.loadBefore)}, after ${load(r.loadAfter)}`,
    `  raw pg_dump ${(r.databaseMB / (rawMs / 1000)).toFixed(1)} MB/s of database; pg_dump|sha256sum ÷ raw ${f2(median(reps.map((x) => x.raw.ms / x.hash.ms)))}`,
    `  CPU per MB of dump: pipeline ${f2(perMB(median(reps.map((x) => x.discarded.cpuMs))))} ms (user ${f2(perMB(median(reps.map((x) => x.discarded.userMs))))}), sha256sum ${f2(perMB(median(reps.map((x) => x.hash.hashCpuMs))))} ms (10 ms ticks)`,
    `  1. CPU ratio ${f2(median(cpuRatios(r)))} (each: ${list(cpuRatios(r))}); into s3rver the pipeline's CPU/MB ${f2(perMB(median(reps.map((x) => x.pipeline.cpuMs))))} ms`,
    `  2. throughput ratio ${f2(median(throughputRatios(r)))} (each: ${list(throughputRatios(r))}); pipeline→discarding ÷ raw ${f2(median(reps.map((x) => x.raw.ms / x.discarded.ms)))}`,
    `  3. vs default compression (into s3rver): ${list(naiveRatios(r))}× (${((median(reps.map((x) => x.pipeline.bytes / x.naive.bytes)) - 1) * 100).toFixed(1)} % more bytes)`,
    `  4. peak RSS ${peakRss(r).toFixed(0)} MB (${Math.max(...reps.map((x) => x.discarded.rssBeforeMB)).toFixed(0)} MB loaded before the dump)`,
    `  beside: pipeline→s3rver ÷ raw ${f2(median(s3Ratios))} (each: ${list(s3Ratios)}); s3rver CPU ${(median(reps.map((x) => x.pipeline.serverCpuMs)) / 1000).toFixed(1)} s; ${cpuBound(r)}`,
  ];
}

/**
 * Marginal CPU per MB between the two sizes (the difference of the large and the small run's CPU over
 * the difference of their dumps): fixed costs (spawning pg_dump, the first requests) cancel out.
 */
function marginalLine(small: SizeResult, large: SizeResult): string {
  const slope = (cpu: (x: Repetition) => number) =>
    (median(large.reps.map(cpu)) - median(small.reps.map(cpu))) / (large.dumpMB - small.dumpMB);
  const pipeline = slope((x) => x.discarded.cpuMs);
  const hash = slope((x) => x.hash.hashCpuMs);
  return `marginal CPU per MB ${small.name} → ${large.name}: pipeline ${f2(pipeline)} ms, sha256sum ${f2(hash)} ms, ratio ${f2(pipeline / hash)}`;
}

async function measureSize(
  size: { name: string; scale: number },
  postgres: Awaited<ReturnType<typeof startLocalPostgres>>,
  endpoints: { s3: string; discard: string },
  repeat: number,
): Promise<SizeResult> {
  const db = `bench_${size.scale.toString().replace(".", "_")}`;
  await ensureDatabase(postgres.connection(), db);
  process.stderr.write(`seeding ${db} (scale ${size.scale}) ...\n`);
  await seedInventory(postgres.connection(db), { scale: size.scale });
  const url = postgres.url(db);
  const info = await readServerInfo(parseDatabaseUrl(url));
  const pgDump = chooseTool(await findTools({ name: "pg_dump", path: process.env.PATH ?? "" }), info, "pg_dump").path;
  process.stderr.write(`${size.name}: database ${mb(info.databaseBytes).toFixed(0)} MB; ${repeat} repetitions ...\n`);
  // Warm the cache once so the first measurement is not penalised by cold reads.
  await rawDumpMs(url, "1", pgDump);
  const loadBefore = loadavg();
  const reps: Repetition[] = [];
  for (let i = 0; i < repeat; i++) {
    reps.push(await repetition(url, pgDump, endpoints));
    process.stderr.write(`  repetition ${i + 1}/${repeat} done\n`);
  }
  const dumpMB = mb(median(reps.map((x) => x.discarded.bytes)));
  return { name: size.name, databaseMB: mb(info.databaseBytes), dumpMB, reps, loadBefore, loadAfter: loadavg() };
}

/** How the pipeline's pg_dump wrote its output in this run; the `pg_dump | sha256sum` baseline always writes 4 KiB at a time. */
async function stdoutBufferLine(): Promise<string> {
  const bytes = process.env.BENCH_STDOUT_BUFFER ? Number(process.env.BENCH_STDOUT_BUFFER) : PG_DUMP_STDOUT_BUFFER;
  const tools = await findTools({ name: "pg_dump", path: process.env.PATH ?? "" });
  const pgDump = tools.sort((a, b) => b.major - a.major)[0]?.path ?? "pg_dump";
  const stdbuf = bytes > 0 ? await findStdbuf(process.env.PATH, pgDump) : undefined;
  return stdbuf
    ? `pipeline's pg_dump under ${stdbuf} -o${bytes} (the baseline pg_dump | sha256sum without)`
    : "pipeline's pg_dump unbuffered (no working stdbuf on PATH, or BENCH_STDOUT_BUFFER=0), as the baseline's";
}

async function main(): Promise<void> {
  const quick = args.includes("--quick");
  const repeat = Math.max(1, Number(option("--repeat") ?? (quick ? 3 : 5)));
  const sizes = quick
    ? [
        { name: "small", scale: 0.5 },
        { name: "large", scale: 2 },
      ]
    : [
        { name: "0.25 GB", scale: 4 },
        { name: "1 GB", scale: 16.5 },
      ];
  const dir = await mkdtemp(join(tmpdir(), "ops-bench-"));
  const dataDir = option("--data-dir");
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const postgres = await startLocalPostgres({
    dataDir: dataDir ? join(dataDir, "pg") : join(dir, "pg"),
    durable: false,
  });
  const s3 = await startLocalS3({ directory: join(dir, "s3"), buckets: [BUCKET] });
  const discard = await startDiscardingS3();
  const started = new Date().toISOString();
  const results: SizeResult[] = [];
  try {
    for (const size of sizes)
      results.push(await measureSize(size, postgres, { s3: s3.endpoint, discard: discard.endpoint }, repeat));
  } finally {
    await s3.stop();
    await discard.stop();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const [small, large] = results;
  if (!small || !large) throw new Error("no measurement");
  process.stdout.write(
    [
      "",
      `bench/backup (${started}, ${process.platform} ${process.arch}, ${availableParallelism()} cores, node ${process.version}; ${repeat} paired repetitions per size${quick ? "; QUICK: small databases, not the issue's sizes" : ""})`,
      await stdoutBufferLine(),
      ...results.flatMap(sizeLines),
      marginalLine(small, large),
      ...busyWarning(results),
      ...targetLines(small, large),
      "",
    ].join("\n"),
  );
}

if (args[0] === "--child") await child();
else await main();
