/**
 * Backup benchmark (not part of `npm test`): `npm run bench:backup [-- --quick]`.
 *
 * On generated PartPal-shaped databases (≈0.25 GB and ≥1 GB), measured in one run on this machine:
 *   - raw `pg_dump -Fc -Z1` to /dev/null (the baseline),
 *   - the same pg_dump into `cat` and into `sha256sum` (ceilings: what any consumer of the stream, and
 *     the cheapest one that hashes it, costs pg_dump when they share its cores),
 *   - the backup pipeline (pg_dump → sha256 → S3 multipart) into a local S3-protocol server, with the CPU
 *     the Node process and the S3 server spent on it,
 *   - the same pipeline into an endpoint that discards the bytes (`discarding-s3.ts`): the pipeline's own
 *     cost, without the local S3 server's,
 *   - the same pipeline at pg_dump's default compression (how a naive tool runs),
 *   - peak RSS of the Node process running the pipeline, at both sizes,
 *   - the CPU bound: the best pipeline ÷ raw that the cores could give, were the CPU the raw dump leaves
 *     idle (read from /proc/stat) perfectly filled with the S3 server's and the pipeline's CPU.
 * Figures are printed as ratios against the baseline; targets: pipeline ÷ raw ≥ 0.9, ≥ 2× the
 * default-compression pipeline, peak RSS ≤ 200 MB and flat in database size.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { dumpToS3 } from "../lib/backup/dump-to-s3.js";
import { startLocalPostgres } from "../lib/local/postgres.js";
import { startLocalS3 } from "../lib/local/s3.js";
import { ensureDatabase, seedInventory } from "../lib/local/seed.js";
import { libpqEnv, parseDatabaseUrl } from "../lib/postgres/connection.js";
import { readServerInfo } from "../lib/postgres/server.js";
import { chooseTool, findTools } from "../lib/postgres/tools.js";
import { startDiscardingS3 } from "./discarding-s3.js";

const BUCKET = "bench";
const args = process.argv.slice(2);

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
  /** CPU time of the Node process running the pipeline. */
  cpuMs: number;
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
 * pg_dump with the same flags into a native consumer through a pipe (`cat`: any consumer at all;
 * `sha256sum`: the cheapest one that hashes): the ceilings for a pipeline on the same cores.
 */
function consumerDump(url: string, pgDump: string, consumer: "cat" | "sha256sum"): Promise<number> {
  const conn = parseDatabaseUrl(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(
      "sh",
      [
        "-c",
        `"$0" "$@" | ${consumer} > /dev/null`,
        pgDump,
        "--format=custom",
        "--compress=1",
        "--no-password",
        "--no-sync",
      ],
      { env: { PATH: process.env.PATH ?? "", ...libpqEnv(conn) }, stdio: ["ignore", "ignore", "inherit"] },
    );
    proc.on("close", (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`pg_dump | ${consumer} exited ${code}`)),
    );
  });
}

const mb = (bytes: number) => bytes / 1024 / 1024;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const repeatArg = args.indexOf("--repeat");
const repeat = repeatArg >= 0 ? Math.max(1, Number(args[repeatArg + 1])) : 3;

async function main(): Promise<void> {
  const quick = args.includes("--quick");
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
  const postgres = await startLocalPostgres({ dataDir: join(dir, "pg"), durable: false });
  const s3 = await startLocalS3({ directory: join(dir, "s3"), buckets: [BUCKET] });
  const discard = await startDiscardingS3();
  const rows: string[] = [];
  try {
    for (const size of sizes) {
      const db = `bench_${size.scale.toString().replace(".", "_")}`;
      await ensureDatabase(postgres.connection(), db);
      process.stderr.write(`seeding ${db} (scale ${size.scale}) ...\n`);
      await seedInventory(postgres.connection(db), { scale: size.scale });
      const url = postgres.url(db);
      const info = await readServerInfo(parseDatabaseUrl(url));
      const pgDump = chooseTool(
        await findTools({ name: "pg_dump", path: process.env.PATH ?? "" }),
        info,
        "pg_dump",
      ).path;
      process.stderr.write(`${size.name}: database ${mb(info.databaseBytes).toFixed(0)} MB; measuring ...\n`);
      // Warm the cache once so the first measurement is not penalised by cold reads.
      await rawDumpMs(url, "1", pgDump);
      // Interleaved repetitions, medians: this machine is shared and a single run varies by ±15 %.
      const raws: number[] = [];
      const rawBusy: number[] = [];
      const cats: number[] = [];
      const hashes: number[] = [];
      const pipelines: PipelineFigures[] = [];
      const naives: PipelineFigures[] = [];
      const discarded: PipelineFigures[] = [];
      for (let i = 0; i < repeat; i++) {
        const raw = await rawDump(url, "1", pgDump);
        raws.push(raw.ms);
        if (raw.busyMs !== undefined) rawBusy.push(raw.busyMs);
        cats.push(await consumerDump(url, pgDump, "cat"));
        hashes.push(await consumerDump(url, pgDump, "sha256sum"));
        pipelines.push(await runChild(url, s3.endpoint, "1"));
        naives.push(await runChild(url, s3.endpoint, "-1"));
        discarded.push(await runChild(url, discard.endpoint, "1"));
      }
      const rawMs = median(raws);
      // Also each repetition's raw ÷ pipeline, measured back to back: slow drifts of this shared machine
      // cancel out of these, where they do not out of a ratio of medians.
      const paired = (ms: number[]) => median(raws.map((raw, i) => raw / (ms[i] ?? raw))).toFixed(2);
      const pairedPipeline = paired(pipelines.map((p) => p.ms));
      const pairedDiscarded = paired(discarded.map((p) => p.ms));
      const pipeline = pipelines.sort((a, b) => a.ms - b.ms)[Math.floor(repeat / 2)] ?? pipelines[0];
      const naive = naives.sort((a, b) => a.ms - b.ms)[Math.floor(repeat / 2)] ?? naives[0];
      if (!pipeline || !naive) throw new Error("no measurement");
      const peakRss = Math.max(...pipelines.map((p) => p.maxRssMB));
      const loadedRss = Math.max(...pipelines.map((p) => p.rssBeforeMB));
      const dumpMB = mb(pipeline.bytes);
      const tput = (ms: number) => mb(info.databaseBytes) / (ms / 1000);
      const ratio = (ms: number) => (rawMs / ms).toFixed(2);
      const cpuSeconds = (values: number[]) => (median(values) / 1000).toFixed(1);
      // The best ratio any scheduler could reach on these cores: raw's own busy CPU plus the extra CPU,
      // spread perfectly over every core (optimistic: pg_dump and its backend are single threads).
      const cores = availableParallelism();
      const busyMs = median(rawBusy);
      const bound = (extraMs: number) => (rawMs / Math.max(rawMs, (busyMs + extraMs) / cores)).toFixed(2);
      const serverCpuMs = median(pipelines.map((p) => p.serverCpuMs));
      const pipelineCpuMs = median(pipelines.map((p) => p.cpuMs));
      const cpuBound = rawBusy.length
        ? `CPU bound: raw keeps the ${cores} cores ${((busyMs / rawMs / cores) * 100).toFixed(0)} % busy, so pipeline÷raw cannot exceed ${bound(serverCpuMs)} with the S3 server's CPU alone, ${bound(serverCpuMs + pipelineCpuMs)} with the pipeline's too`
        : "CPU bound: no /proc/stat";
      rows.push(
        [
          size.name,
          `${mb(info.databaseBytes).toFixed(0)} MB (dump ${dumpMB.toFixed(0)} MB)`,
          `raw ${tput(rawMs).toFixed(1)} MB/s`,
          `ceilings: | cat ${ratio(median(cats))}, | sha256sum ${ratio(median(hashes))}`,
          `pipeline ${tput(pipeline.ms).toFixed(1)} MB/s`,
          `pipeline÷raw ${ratio(pipeline.ms)} (target ≥ 0.90; paired ${pairedPipeline})`,
          `excluding the server's CompleteMultipartUpload ${ratio(pipeline.ms - pipeline.completeMs)}`,
          `into a discarding endpoint (the pipeline's own cost) ${ratio(median(discarded.map((p) => p.ms)))} (paired ${pairedDiscarded})`,
          `CPU: pipeline ${cpuSeconds(pipelines.map((p) => p.cpuMs))} s, S3 server ${cpuSeconds(pipelines.map((p) => p.serverCpuMs))} s`,
          cpuBound,
          `pipeline alone could take ${(dumpMB / (median(pipelines.map((p) => p.cpuMs)) / 1000)).toFixed(0)} MB/s of dump per core vs pg_dump's ${(dumpMB / (rawMs / 1000)).toFixed(0)} MB/s`,
          `vs default compression ${(naive.ms / pipeline.ms).toFixed(2)}× faster (target ≥ 2), ${((pipeline.bytes / naive.bytes - 1) * 100).toFixed(1)} % more bytes`,
          `peak RSS ${peakRss.toFixed(0)} MB (target ≤ 200; ${loadedRss.toFixed(0)} MB loaded before the dump)`,
        ].join(" | "),
      );
      process.stderr.write(`${rows.at(-1)}\n`);
    }
  } finally {
    await s3.stop();
    await discard.stop();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `\nbench/backup (${new Date().toISOString()}, ${process.platform} ${process.arch})\n${rows.join("\n")}\n`,
  );
}

if (args[0] === "--child") await child();
else await main();
