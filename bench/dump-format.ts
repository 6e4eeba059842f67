/**
 * Dump-format benchmark (not part of `npm test`): `npm run bench:dump-format [-- --quick] [-- --repeat N]`.
 *
 * On the 1 GB PartPal-shaped database that `bench/backup.ts` generates (the same generator, `seedInventory`
 * at its 1 GB scale), in one run, paired repetitions in alternating order:
 *   - `pg_dump -Fc -Z1` to /dev/null (the baseline: what a custom-format backup costs pg_dump),
 *   - `pg_dump -Fd -j 2 -Z1` into a local directory (removed after each run).
 * The pipelines' uploads are not measured here: `discarding-s3.ts` answers multipart uploads only, and
 * a directory dump PUTs its small files whole. Printed: the medians, `-Fd -j 2 ÷ -Fc` dump time (below 1: the directory dump is faster), each pair's
 * ratio, and the load average before and after, since the machine is shared.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalPostgres } from "../lib/local/postgres.js";
import { ensureDatabase, seedInventory } from "../lib/local/seed.js";
import { libpqEnv, type PgConnection } from "../lib/postgres/connection.js";
import { readServerInfo } from "../lib/postgres/server.js";
import { chooseTool, findTools, type PgTool } from "../lib/postgres/tools.js";

const args = process.argv.slice(2);
const repeatArg = args.indexOf("--repeat");
const repeat = repeatArg >= 0 ? Math.max(1, Number(args[repeatArg + 1])) : 3;
/** bench/backup.ts's scale for its "1 GB" database (and its small one for --quick). */
const SCALE = args.includes("--quick") ? 0.5 : 16.5;

function pgDumpMs(tool: PgTool, conn: PgConnection, flags: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(tool.path, ["--compress=1", "--no-password", "--no-sync", ...flags], {
      env: { PATH: process.env.PATH ?? "", ...libpqEnv(conn) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    proc.stderr.on("data", (d) => {
      stderr += String(d);
    });
    proc.on("close", (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`pg_dump exited ${code}: ${stderr}`)),
    );
  });
}

async function directoryDumpMs(tool: PgTool, conn: PgConnection, dir: string): Promise<number> {
  const out = join(dir, `fd-${Date.now()}`);
  try {
    return await pgDumpMs(tool, conn, ["--format=directory", "--jobs=2", `--file=${out}`]);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

interface Pair {
  fc: number;
  fd: number;
}

async function measurePair(i: number, run: Record<keyof Pair, () => Promise<number>>): Promise<Pair> {
  // Alternate which format goes first, so a warm cache or a neighbour's burst does not favour one.
  const order: (keyof Pair)[] = i % 2 === 0 ? ["fc", "fd"] : ["fd", "fc"];
  const pair: Partial<Pair> = {};
  for (const name of order) pair[name] = await run[name]();
  return pair as Pair;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "ops-bench-fd-"));
  const postgres = await startLocalPostgres({ dataDir: join(dir, "pg"), durable: false });
  try {
    const db = `bench_${SCALE.toString().replace(".", "_")}`;
    await ensureDatabase(postgres.connection(), db);
    process.stderr.write(`seeding ${db} (scale ${SCALE}) ...\n`);
    await seedInventory(postgres.connection(db), { scale: SCALE });
    const conn = postgres.connection(db);
    const info = await readServerInfo(conn);
    const tool = chooseTool(await findTools({ name: "pg_dump", path: process.env.PATH ?? "" }), info, "pg_dump");
    const run: Record<keyof Pair, () => Promise<number>> = {
      fc: () => pgDumpMs(tool, conn, ["--format=custom", "--file=/dev/null"]),
      fd: () => directoryDumpMs(tool, conn, dir),
    };
    const loadBefore = load();
    await run.fc(); // warm-up: the first read of the tables from disk is not either format's cost
    const pairs: Pair[] = [];
    for (let i = 0; i < repeat; i++) {
      const pair = await measurePair(i, run);
      pairs.push(pair);
      process.stderr.write(
        `pair ${i + 1}: -Fc ${(pair.fc / 1000).toFixed(1)} s, -Fd -j 2 ${(pair.fd / 1000).toFixed(1)} s (÷ ${(pair.fd / pair.fc).toFixed(3)}); load ${load()}\n`,
      );
    }
    const med = (k: keyof Pair) => median(pairs.map((p) => p[k]));
    const lines = [
      `database ${db}: ${(info.databaseBytes / 1e9).toFixed(2)} GB, PostgreSQL ${info.version}, pg_dump ${tool.version}, ${availableParallelism()} cores`,
      `pg_dump -Fc -Z1 > /dev/null          median ${(med("fc") / 1000).toFixed(1)} s (baseline)`,
      `pg_dump -Fd -j 2 -Z1 (local dir)     median ${(med("fd") / 1000).toFixed(1)} s`,
      `-Fd -j 2 ÷ -Fc dump time             ${(med("fd") / med("fc")).toFixed(3)} (median of pairs ${median(pairs.map((p) => p.fd / p.fc)).toFixed(3)}; pairs ${pairs.map((p) => (p.fd / p.fc).toFixed(3)).join(", ")})`,
      `load average before ${loadBefore}, after ${load()} (1, 5, 15 min)`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await postgres.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

await main();
