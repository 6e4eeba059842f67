/**
 * Restore-drill benchmark: drill time (start → validated, what the RTO is judged on) ÷ a raw
 * `pg_restore` of the same dump from a local file, for both ways the drill can feed pg_restore
 * (streamed from S3, or downloaded then `pg_restore -j N`). Target: ≤ 1.1.
 *
 *   npx tsx bench/drill.ts                 # ≥ 1 GB database (scale 26)
 *   npx tsx bench/drill.ts --scale 1       # quick run (~40 MB)
 *   npx tsx bench/drill.ts --dir /tmp/b    # keep the cluster and bucket between runs (seeding is slow)
 *
 * Everything runs on this machine: a real PostgreSQL, a real S3-protocol server on 127.0.0.1, the
 * real backup runbook to make the dump. Not part of `npm test`.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { createAwsClients } from "../lib/aws/clients.js";
import { startLocalPostgres } from "../lib/local/postgres.js";
import { startLocalS3 } from "../lib/local/s3.js";
import { ensureDatabase, seedInventory } from "../lib/local/seed.js";
import { createLogger } from "../lib/logger.js";
import { createPorts } from "../lib/ports.js";
import { libpqEnv } from "../lib/postgres/connection.js";
import { connect } from "../lib/postgres/server.js";
import { findTools } from "../lib/postgres/tools.js";
import { inspectBackups } from "../runbooks/backup/catalog.js";
import { backupRunbook } from "../runbooks/backup/index.js";
import { restoreDrillRunbook } from "../runbooks/restore-drill/index.js";
import { chooseRestoreMode } from "../runbooks/restore-drill/plan.js";
import type { DrillRecord } from "../runbooks/restore-drill/record.js";
import type { RunbookContext } from "../runbooks/types.js";
import { builtinFleet, findSystem } from "../systems/index.js";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "26" },
    jobs: { type: "string" },
    dir: { type: "string" },
    repeat: { type: "string", default: "1" },
  },
});
const scale = Number(values.scale);
const jobs = Number(values.jobs ?? Math.min(8, availableParallelism()));
const repeat = Math.max(1, Number(values.repeat));
const say = (line: string) => process.stderr.write(`${line}\n`);
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const dir = values.dir ?? (await mkdtemp(join(tmpdir(), "ops-bench-drill-")));
await mkdir(dir, { recursive: true });
const system = findSystem(builtinFleet(), "demo");
const bucket = system.backup?.bucket ?? "ops-autopilot-demo";
const database = system.databases[0]?.database ?? "partpal_demo";

const postgres = await startLocalPostgres({ dataDir: join(dir, "pg"), durable: false });
const s3server = await startLocalS3({ directory: join(dir, "s3"), buckets: [bucket] });
Object.assign(process.env, s3server.env);
try {
  await ensureDatabase(postgres.connection(), database);
  let t = performance.now();
  const { seeded } = await seedInventory(postgres.connection(database), { scale });
  const sizeClient = await connect(postgres.connection(database));
  const size = Number(
    (await sizeClient.query<{ s: string }>("select pg_database_size(current_database())::text as s")).rows[0]?.s,
  );
  await sizeClient.end();
  say(
    `database ${database}: ${mib(size)}${seeded ? ` (seeded at scale ${scale} in ${secs(performance.now() - t)})` : " (reused)"}`,
  );

  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    OPS_DEMO_DATABASE_URL: postgres.url(database),
  };
  const clients = createAwsClients({ region: "us-east-1", s3ForcePathStyle: true });
  const logger = createLogger({ logLevel: "ERROR" });
  const context = (): RunbookContext => ({
    system,
    clients,
    logger,
    now: () => new Date(),
    dryRun: false,
    notify: { notify: async () => {} },
    ...createPorts({ env, secrets: clients.secrets }),
  });

  const scope = { bucket, prefix: system.backup?.prefix ?? "pg_dump", system: system.id, database: "inventory" };
  let { newest } = await inspectBackups(clients.s3, { ...scope, now: new Date() });
  if (!newest || !values.dir) {
    t = performance.now();
    const report = await backupRunbook.run(context(), backupRunbook.input.parse({ force: true }));
    if (report.status !== "succeeded") throw new Error(`backup failed: ${report.summary}`);
    say(`backup (real runbook, pg_dump → S3): ${secs(performance.now() - t)}`);
    ({ newest } = await inspectBackups(clients.s3, { ...scope, now: new Date() }));
  }
  if (!newest) throw new Error("no verified backup");
  const dumpBytes = newest.manifest.bytes;
  say(`dump: ${mib(dumpBytes)} (s3://${bucket}/${newest.manifest.key})`);

  // The baseline's input: the same dump, as a local file.
  const file = join(dir, "baseline.dump");
  const object = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: newest.manifest.key }));
  await pipeline(object.Body as NodeJS.ReadableStream, createWriteStream(file));
  if ((await stat(file)).size !== dumpBytes) throw new Error("downloaded dump has the wrong size");

  const pgRestore = (await findTools({ name: "pg_restore", path: process.env.PATH ?? "" })).sort(
    (a, b) => b.major - a.major,
  )[0];
  if (!pgRestore) throw new Error("pg_restore not found");
  const admin = await connect(postgres.connection());
  // Seeding leaves work for autovacuum (freezing 1 GB of fresh rows) that would land inside whichever
  // measurement runs first: do it now, and start every measurement from a checkpoint.
  const quiet = async () => {
    const source = await connect(postgres.connection(database));
    await source.query("vacuum (freeze, analyze)");
    await source.end();
    await admin.query("checkpoint");
  };
  await quiet();
  const rawRestore = async (j: number): Promise<number> => {
    await admin.query("drop database if exists bench_raw with (force)");
    await admin.query("create database bench_raw template template0");
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        pgRestore.path,
        ["--dbname=bench_raw", "--no-owner", "--no-privileges", "--no-subscriptions", `--jobs=${j}`, file],
        {
          env: { PATH: process.env.PATH ?? "", ...libpqEnv(postgres.connection("bench_raw")) },
          stdio: ["ignore", "ignore", "inherit"],
        },
      );
      child.once("error", reject);
      child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`pg_restore exited ${code}`))));
    });
    const ms = performance.now() - started;
    await admin.query("drop database bench_raw with (force)");
    return ms;
  };
  const drill = async (restoreMode: "stream" | "download"): Promise<DrillRecord> => {
    const report = await restoreDrillRunbook.run(context(), restoreDrillRunbook.input.parse({ restoreMode, jobs }));
    const record = (report.details?.drills as DrillRecord[] | undefined)?.[0];
    if (record?.outcome !== "passed" || record.restoreMs === undefined) {
      throw new Error(`drill (${restoreMode}) did not pass: ${report.summary}`);
    }
    return record;
  };

  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  const raw1: number[] = [];
  const rawJ: number[] = [];
  const stream: number[] = [];
  const download: number[] = [];
  for (let i = 0; i < repeat; i++) {
    await quiet();
    raw1.push(await rawRestore(1));
    say(`raw pg_restore (1 job, local file): ${secs(raw1[raw1.length - 1] ?? 0)}`);
    await quiet();
    const s = await drill("stream");
    stream.push(s.restoreMs ?? 0);
    say(
      `drill, streamed from S3: ${secs(s.restoreMs ?? 0)} (S3 → pg_restore ${secs(Number(s.restore?.durationMs))}, validation ${secs(Number(s.restore?.validationMs))})`,
    );
    await quiet();
    const d = await drill("download");
    download.push(d.restoreMs ?? 0);
    say(
      `drill, downloaded then pg_restore -j ${jobs}: ${secs(d.restoreMs ?? 0)} (download ${secs(Number(d.restore?.downloadMs))}, pg_restore ${secs(Number(d.restore?.durationMs) - Number(d.restore?.downloadMs))}, validation ${secs(Number(d.restore?.validationMs))})`,
    );
    await quiet();
    rawJ.push(await rawRestore(jobs));
    say(`raw pg_restore -j ${jobs} (local file): ${secs(rawJ[rawJ.length - 1] ?? 0)}`);
  }
  await admin.end();

  const base = median(raw1);
  const rows = [
    ["drill (stream) ÷ raw pg_restore", median(stream) / base],
    [`drill (download, -j ${jobs}) ÷ raw pg_restore`, median(download) / base],
    [`raw pg_restore -j ${jobs} ÷ raw pg_restore`, median(rawJ) / base],
    [`drill (download, -j ${jobs}) ÷ raw pg_restore -j ${jobs}`, median(download) / median(rawJ)],
  ] as const;
  const faster = median(stream) <= median(download) ? "stream" : "download";
  const auto = chooseRestoreMode({ setting: "auto", bytes: dumpBytes, jobs });
  process.stdout.write(
    `\nrestore drill, database ${mib(size)}, dump ${mib(dumpBytes)}, ${jobs} job(s), median of ${repeat}\n`,
  );
  for (const [name, ratio] of rows) process.stdout.write(`  ${name.padEnd(52)} ${ratio.toFixed(3)}\n`);
  process.stdout.write(
    `  faster here: ${faster}; auto picks ${auto} for this size${auto === faster ? "" : " (differs)"}\n`,
  );
  process.stdout.write(
    `  target drill ÷ raw ≤ 1.1: ${Math.min(median(stream), median(download)) / base <= 1.1 ? "met" : "missed"}\n`,
  );
} finally {
  await s3server.stop().catch(() => {});
  await postgres.stop().catch(() => {});
  if (!values.dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
}
