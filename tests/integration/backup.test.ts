import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ECSClient, RunTaskCommand } from "@aws-sdk/client-ecs";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpToS3 } from "../../lib/backup/dump-to-s3.js";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import { connect } from "../../lib/postgres/server.js";
import { findTools, type PgTool } from "../../lib/postgres/tools.js";
import { inspectBackups } from "../../runbooks/backup/catalog.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { manifestSchema } from "../../runbooks/backup/manifest.js";
import { pruneBackupsRunbook } from "../../runbooks/prune-backups/index.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { systemSchema } from "../../systems/schema.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { startCloudWatchRecorder } from "../helpers/cloudwatch-recorder.js";
import { testContext } from "../helpers/context.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";
import { realStdbuf } from "../helpers/stdbuf.js";

const run = promisify(execFile);
const BUCKET = "ops-autopilot-demo";
const DB = "partpal_it";

let stack: TestStack;
const sent: string[] = [];
/** The same operations with the key they named: `PutObjectCommand pg_dump/…`. */
const sentKeys: string[] = [];

/** What the demo system's backup needs from the environment, pointing at this test's server. */
const env = () => ({ OPS_DEMO_DATABASE_URL: stack.postgres.url(DB), PATH: process.env.PATH });

async function objects(prefix = "pg_dump/demo/"): Promise<string[]> {
  const listing = await stack.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listing.Contents ?? []).map((o) => o.Key ?? "").sort();
}

async function download(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
}

/** Per table: row count and an order-independent checksum of its contents. */
async function fingerprint(database: string): Promise<Record<string, { rows: number; md5: string }>> {
  const client = await connect(stack.postgres.connection(database));
  try {
    const tables = await client.query<{ name: string }>(
      "select tablename as name from pg_tables where schemaname = 'public' order by 1",
    );
    const result: Record<string, { rows: number; md5: string }> = {};
    for (const { name } of tables.rows) {
      const r = await client.query<{ rows: string; md5: string }>(
        `select count(*)::text as rows, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as md5 from "${name}" t`,
      );
      result[name] = { rows: Number(r.rows[0]?.rows), md5: r.rows[0]?.md5 ?? "" };
    }
    return result;
  } finally {
    await client.end();
  }
}

/**
 * A stand-in `pg_dump` in its own folder: answers `--version` like the real one (so it is chosen), and
 * otherwise runs `body` (a shell script; `$REAL` is the real pg_dump). Returns the folder and the tool.
 */
async function fakePgDump(name: string, body: string): Promise<{ bin: string; tool: PgTool }> {
  const [real] = (await findTools({ name: "pg_dump", path: process.env.PATH ?? "" })).sort((a, b) => b.major - a.major);
  if (!real) throw new Error("no pg_dump");
  const bin = join(stack.dir, name);
  await mkdir(bin, { recursive: true });
  const path = join(bin, "pg_dump");
  await writeFile(
    path,
    `#!/bin/bash\nREAL="${real.path}"\nif [ "$1" = "--version" ]; then exec "$REAL" --version; fi\n${body}\n`,
  );
  await chmod(path, 0o755);
  return { bin, tool: { ...real, path } };
}

/** dumpToS3 of `tool`'s output (uncompressed, 5 MiB parts), cancelled once `cancelAt` bytes have arrived. */
function cancelledDump(tool: PgTool, key: string, cancelAt: number): ReturnType<typeof dumpToS3> {
  const cancel = new AbortController();
  return dumpToS3({
    tool,
    conn: stack.postgres.connection(DB),
    compression: 0,
    s3: stack.s3,
    bucket: BUCKET,
    key,
    partSizeBytes: 5 * 1024 * 1024,
    signal: cancel.signal,
    onBytes: (bytes) => {
      if (bytes >= cancelAt && !cancel.signal.aborted) cancel.abort(new Error("deadline reached"));
    },
    baseEnv: process.env,
  });
}

beforeAll(async () => {
  stack = await startTestStack([BUCKET]);
  // Record every S3 operation sent over the wire, to prove what the pipeline did and did not do.
  stack.s3.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(String(context.commandName));
      sentKeys.push(`${context.commandName} ${(args.input as { Key?: string }).Key ?? ""}`);
      return next(args);
    },
    { step: "initialize", name: "recordCommands" },
  );
  await ensureDatabase(stack.postgres.connection(), DB);
  await seedInventory(stack.postgres.connection(DB), { scale: 0.5 });
});

afterAll(async () => {
  await stack?.stop();
});

describe("backup on real PostgreSQL and a real S3-protocol server", () => {
  it("round trip: backup → download → pg_restore into a fresh database gives the same tables, rows and contents", async () => {
    const ctx = testContext({ system: "demo", clients: stack.clients, env: env(), now: () => new Date() });
    const report = await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60 });
    expect(report.status, report.summary).toBe("succeeded");
    const keys = await objects();
    expect(keys).toHaveLength(2);
    const [dumpKey, manifestKey] = keys;
    expect(dumpKey).toMatch(/^pg_dump\/demo\/inventory\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z\.dump$/);
    expect(manifestKey).toBe(`${dumpKey}.manifest.json`);

    const manifest = manifestSchema.parse(JSON.parse((await download(manifestKey ?? "")).toString("utf8")));
    const dump = await download(dumpKey ?? "");
    expect(manifest.bytes).toBe(dump.length);
    expect(manifest.sha256).toBe(createHash("sha256").update(dump).digest("hex"));
    expect(manifest).toMatchObject({
      system: "demo",
      database: "inventory",
      databaseName: DB,
      format: "custom",
      compression: 1,
    });
    expect(manifest.serverVersion).toMatch(/^\d+\.\d+/);
    expect(manifest.tables.map((t) => t.name).sort()).toEqual(["parts", "sales", "vehicles"]);
    expect(manifest.tables.find((t) => t.name === "parts")?.rowsEstimate).toBeGreaterThan(90_000);

    const file = join(stack.dir, "restore.dump");
    await writeFile(file, dump);
    await ensureDatabase(stack.postgres.connection(), "restored");
    const [restore] = await findTools({ name: "pg_restore", path: process.env.PATH ?? "" });
    await run(restore?.path ?? "pg_restore", [
      "--no-owner",
      "-h",
      "127.0.0.1",
      "-p",
      String(stack.postgres.port),
      "-U",
      "postgres",
      "-d",
      "restored",
      file,
    ]);
    const original = await fingerprint(DB);
    expect(Object.keys(original)).toEqual(["parts", "sales", "vehicles"]);
    expect(await fingerprint("restored")).toEqual(original);
  });

  it("exact row counts in the manifest come from the dump's own snapshot, not from the live tables", async () => {
    // A pg_dump that records its arguments and starts 1.5 s late: rows inserted meanwhile are live, but
    // neither the dump nor the counts may see them.
    const argsFile = join(stack.dir, "pg_dump-args");
    const { bin } = await fakePgDump("late-bin", `echo "$@" > "${argsFile}"; sleep 1.5; exec "$REAL" "$@"`);
    const count = async (database: string) => (await fingerprint(database)).vehicles?.rows;
    const before = await count(DB);
    const ctx = testContext({
      system: "demo",
      clients: stack.clients,
      env: { ...env(), OPS_PG_BIN_DIRS: bin },
      now: () => new Date(),
    });
    const running = backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60 });
    // Insert once pg_dump has started with its snapshot (the wrapper writes its arguments first, then
    // sleeps): by then the snapshot is exported, however loaded the machine. A fixed wait was not.
    const started = Date.now();
    // (`--version` runs the wrapper too, when the tool is looked for: wait for the dump's own arguments.)
    while (!(existsSync(argsFile) && readFileSync(argsFile, "utf8").includes("--snapshot="))) {
      if (Date.now() - started > 60_000) throw new Error("pg_dump never started");
      await new Promise((r) => setTimeout(r, 20));
    }
    const writer = await connect(stack.postgres.connection(DB));
    try {
      await writer.query(
        `insert into vehicles select g, 'SNAP' || g, 'Test', 'Late', 2026, now(), 'Z' from generate_series(90000001, 90000005) g`,
      );
      const report = await running;
      expect(report.status, report.summary).toBe("succeeded");
      expect(readFileSync(argsFile, "utf8")).toMatch(/--snapshot=\S+/);
      const done = report.actions.find((a) => a.action === "backup" && a.status === "done");
      const key = (done?.after as { key?: string } | undefined)?.key ?? "";
      const manifest = manifestSchema.parse(JSON.parse((await download(`${key}.manifest.json`)).toString("utf8")));
      const vehicles = manifest.tables.find((t) => t.name === "vehicles");
      expect(await count(DB)).toBe((before ?? 0) + 5);
      expect(vehicles?.rows).toBe(before);
      for (const t of manifest.tables) expect(t.rows, t.name).toBeTypeOf("number");
      // The dump holds exactly what was counted.
      const file = join(stack.dir, "snapshot.dump");
      await writeFile(file, await download(key));
      await ensureDatabase(stack.postgres.connection(), "restored_snapshot");
      const [restore] = await findTools({ name: "pg_restore", path: process.env.PATH ?? "" });
      await run(restore?.path ?? "pg_restore", [
        "--no-owner",
        "-h",
        "127.0.0.1",
        "-p",
        String(stack.postgres.port),
        "-U",
        "postgres",
        "-d",
        "restored_snapshot",
        file,
      ]);
      const restored = await fingerprint("restored_snapshot");
      for (const t of manifest.tables) expect(restored[t.name]?.rows, t.name).toBe(t.rows);
    } finally {
      await writer.query("delete from vehicles where id between 90000001 and 90000005");
      await writer.end();
    }
  }, 90_000);

  it("an event delivered twice does not take a second backup", async () => {
    const before = await objects();
    const ctx = testContext({ system: "demo", clients: stack.clients, env: env(), now: () => new Date() });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(report.status).toBe("skipped");
    expect(report.summary).toMatch(/younger than 60 min/);
    expect(await objects()).toEqual(before);
  });

  it("dry run writes nothing and says what it would do", async () => {
    const before = await objects();
    const ctx = testContext({
      system: "demo",
      clients: stack.clients,
      env: env(),
      now: () => new Date(),
      dryRun: true,
    });
    const report = await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60 });
    expect(report.actions[0]).toMatchObject({ status: "would-do", action: "backup" });
    expect((report.actions[0]?.after as { key?: string } | undefined)?.key).toMatch(
      /^s3:\/\/ops-autopilot-demo\/pg_dump\/demo\/inventory\//,
    );
    expect(await objects()).toEqual(before);
  });

  it("a dump estimated to outlast the deadline is skipped with the estimate, never cut off", async () => {
    const before = await objects();
    const now = new Date(Date.now() + 10_800_000);
    const ctx = testContext({
      system: "demo",
      clients: stack.clients,
      env: env(),
      now: () => now,
      deadline: new Date(now.getTime() + 5),
    });
    const report = await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60 });
    expect(report.status).toBe("skipped");
    expect(report.actions[0]?.reason).toMatch(
      /estimated dump time \d+ s \(.* at .*\/s\) exceeds the 0 s budget and the catalogue gives no task network \(backup\.fargate\); run it as a plain process/,
    );
    expect(report.metrics["estimatedMs.inventory"]).toBeGreaterThan(5);
    expect(await objects()).toEqual(before);
  });

  it("pg_dump killed mid-stream: multipart upload aborted, no object, no manifest, report failed", async () => {
    // A pg_dump that streams 9.5 MB of real output (more than one 8 MiB part), then dies by SIGKILL.
    const { bin } = await fakePgDump("killed-bin", '"$REAL" "$@" | { head -c 9500000; kill -9 $$; }');
    const before = await objects();
    sent.length = 0;
    sentKeys.length = 0;
    const ctx = testContext({
      system: "demo",
      clients: stack.clients,
      env: { ...env(), OPS_PG_BIN_DIRS: bin },
      now: () => new Date(Date.now() + 3_600_000),
    });
    const report = await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60, compression: 0 });
    expect(report.status).toBe("failed");
    expect(report.actions[0]?.reason).toMatch(/pg_dump was killed by SIGKILL/);
    expect(sent).toContain("CreateMultipartUploadCommand");
    expect(sent).toContain("AbortMultipartUploadCommand");
    expect(sent).not.toContain("CompleteMultipartUploadCommand");
    // The only object written is the run's claim, released when the run failed; no manifest.
    expect(sentKeys.filter((c) => c.startsWith("PutObjectCommand"))).toEqual([
      "PutObjectCommand pg_dump/demo/inventory/in-progress.json",
    ]);
    expect(sentKeys).toContain("DeleteObjectCommand pg_dump/demo/inventory/in-progress.json");
    expect(await objects()).toEqual(before);
  });

  it("an upload that fails mid-dump is the reported cause, not the pg_dump stopped because of it", async () => {
    const [real] = (await findTools({ name: "pg_dump", path: process.env.PATH ?? "" })).sort(
      (a, b) => b.major - a.major,
    );
    if (!real) throw new Error("no pg_dump");
    // Also one that writes far faster than the upload reads: its pipe is full when it is stopped, and
    // the failure must still come back instead of waiting for output nobody reads.
    const { tool: fast } = await fakePgDump("fast-dump-2", "exec head -c 300000000 /dev/zero");
    for (const tool of [real, fast]) {
      // Uncompressed, 5 MiB parts: the first part (and its failing CreateMultipartUpload) goes while
      // pg_dump is still writing.
      const failure = dumpToS3({
        tool,
        conn: stack.postgres.connection(DB),
        compression: 0,
        s3: stack.s3,
        bucket: "no-such-bucket",
        key: "pg_dump/demo/inventory/x.dump",
        partSizeBytes: 5 * 1024 * 1024,
        baseEnv: process.env,
      });
      await expect(failure).rejects.toThrow(
        /^upload to s3:\/\/no-such-bucket\/pg_dump\/demo\/inventory\/x\.dump failed: The specified bucket does not exist/,
      );
    }
  }, 60_000);

  it("a run cancelled mid-dump (deadline) says so, stops pg_dump and completes nothing", async () => {
    const [tool] = (await findTools({ name: "pg_dump", path: process.env.PATH ?? "" })).sort(
      (a, b) => b.major - a.major,
    );
    if (!tool) throw new Error("no pg_dump");
    sent.length = 0;
    // Cancel once the first part is on its way: pg_dump is still writing.
    const failure = cancelledDump(tool, "pg_dump/demo/inventory/cancelled.dump", 6 * 1024 * 1024);
    await expect(failure).rejects.toThrow(/^the run was cancelled \(deadline reached\)$/);
    expect(sent).not.toContain("CompleteMultipartUploadCommand");
    expect(await objects("pg_dump/demo/inventory/cancelled")).toEqual([]);
  });

  it("a run cancelled before pg_dump starts (SIGTERM during the setup) starts nothing", async () => {
    const marker = join(stack.dir, "pg_dump-started");
    const { tool } = await fakePgDump("marker-bin", `touch "${marker}"; exec "$REAL" "$@"`);
    const cancel = new AbortController();
    cancel.abort(new Error("stopped by SIGTERM"));
    sent.length = 0;
    await expect(
      dumpToS3({
        tool,
        conn: stack.postgres.connection(DB),
        compression: 1,
        s3: stack.s3,
        bucket: BUCKET,
        key: "pg_dump/demo/inventory/never.dump",
        signal: cancel.signal,
        baseEnv: process.env,
      }),
    ).rejects.toThrow(/^the run was cancelled \(stopped by SIGTERM\)$/);
    expect(existsSync(marker)).toBe(false);
    expect(sent).toEqual([]);
  });

  describe("a pg_dump stopped while its output is still in the pipe", () => {
    // Stand-ins that write far faster than the upload reads: the pipe is full when they are stopped.
    const fastWriter = async (name: string, body: string) => (await fakePgDump(name, body)).tool;

    it("cancelled: returns at once with the reason instead of waiting for output nobody reads", async () => {
      const tool = await fastWriter("fast-dump", "exec head -c 300000000 /dev/zero");
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const failure = cancelledDump(tool, `pg_dump/demo/inventory/fast-${i}.dump`, 6 * 1024 * 1024);
        await expect(failure).rejects.toThrow(/^the run was cancelled \(deadline reached\)$/);
        expect(performance.now() - started).toBeLessThan(20_000);
      }
      expect(await objects("pg_dump/demo/inventory/fast-")).toEqual([]);
    }, 90_000);

    it("a pg_dump that ignores SIGTERM is still stopped (SIGKILL once the upload is torn down)", async () => {
      const tool = await fastWriter("stubborn-dump", "trap '' TERM\nhead -c 10000000 /dev/zero\nexec sleep 120");
      const started = performance.now();
      const failure = cancelledDump(tool, "pg_dump/demo/inventory/stubborn.dump", 10_000_000);
      await expect(failure).rejects.toThrow(/^the run was cancelled \(deadline reached\)$/);
      // Well before `sleep 120` would have ended by itself.
      expect(performance.now() - started).toBeLessThan(30_000);
    }, 60_000);
  });

  /** `ops run backup` as a child process, mid-dump on a slow pg_dump (the claim is there, the upload begun). */
  async function backupMidDump() {
    const { bin } = await fakePgDump("slow-bin", "while :; do head -c 1000000 /dev/zero; sleep 0.1; done");
    const before = await objects();
    const root = join(import.meta.dirname, "..", "..");
    const proc = spawn(
      process.execPath,
      [join(root, "bin", "ops.js"), "run", "backup", "--system", "demo", "--json", "force=true"],
      {
        env: { ...process.env, ...stack.s3server.env, ...env(), OPS_PG_BIN_DIRS: bin },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const output = { out: "", err: "" };
    proc.stdout.on("data", (d) => {
      output.out += String(d);
    });
    proc.stderr.on("data", (d) => {
      output.err += String(d);
    });
    const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
    const claim = "pg_dump/demo/inventory/in-progress.json";
    for (let i = 0; i < 300 && !(await objects()).includes(claim); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await objects()).toContain(claim);
    await new Promise((r) => setTimeout(r, 1500));
    return { proc, output, exited, before };
  }

  it.runIf(realStdbuf)(
    "pg_dump writes through a 128 KiB stdout buffer (stdbuf): pipe-sized reads, and the object is that dump; 0 turns it off",
    async () => {
      const log = join(stack.dir, "stdbuf.log");
      const bin = join(stack.dir, "stdbuf-bin");
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, "stdbuf"), `#!/bin/sh\necho "$@" >> "${log}"\nexec "${realStdbuf}" "$@"\n`);
      await chmod(join(bin, "stdbuf"), 0o755);
      const [tool] = (await findTools({ name: "pg_dump", path: process.env.PATH ?? "" })).sort(
        (a, b) => b.major - a.major,
      );
      if (!tool) throw new Error("no pg_dump");
      const dump = async (key: string, stdoutBufferBytes?: number) => {
        let reads = 0;
        const result = await dumpToS3({
          tool,
          conn: stack.postgres.connection(DB),
          compression: 0,
          s3: stack.s3,
          bucket: BUCKET,
          key,
          onBytes: () => reads++,
          baseEnv: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
          ...(stdoutBufferBytes === undefined ? {} : { stdoutBufferBytes }),
        });
        return { result, reads };
      };
      const pgDumpLines = async () =>
        readFileSync(log, "utf8")
          .split("\n")
          .filter((line) => line.includes(tool.path));

      const buffered = await dump("stdbuf/buffered.dump");
      // The probe (pg_dump itself under the buffer, once), then the dump.
      expect(await pgDumpLines()).toEqual([
        `-o131072 ${tool.path} --version`,
        `-o131072 ${tool.path} --format=custom --compress=0 --no-password --no-sync`,
      ]);
      // pg_dump alone writes 4 KiB at a time; buffered, most reads take a whole 64 KiB pipe.
      expect(buffered.result.bytes / buffered.reads).toBeGreaterThan(16 * 1024);
      const object = await download("stdbuf/buffered.dump");
      expect(object.length).toBe(buffered.result.bytes);
      expect(createHash("sha256").update(object).digest("hex")).toBe(buffered.result.sha256);
      const file = join(stack.dir, "buffered.dump");
      await writeFile(file, object);
      const [restore] = await findTools({ name: "pg_restore", path: process.env.PATH ?? "" });
      const listing = await run(restore?.path ?? "pg_restore", ["--list", file]);
      expect(listing.stdout).toMatch(/TABLE DATA public parts/);

      const unbuffered = await dump("stdbuf/unbuffered.dump", 0);
      expect(unbuffered.result.bytes).toBeGreaterThan(0);
      expect(await pgDumpLines()).toHaveLength(2);
    },
  );

  it("`ops run backup` stopped with SIGTERM (how ECS stops a task): reports the cancellation, leaves no dump and no claim", async () => {
    const { proc, output, exited, before } = await backupMidDump();
    proc.kill("SIGTERM");
    const code = await exited;
    expect(output.err).toMatch(/interrupted \(SIGTERM\)/);
    expect(code, output.err).toBe(1);
    const report = JSON.parse(output.out) as { status: string; actions: { status: string; reason?: string }[] };
    expect(report.status).toBe("failed");
    expect(report.actions[0]?.reason).toMatch(/the run was cancelled \(stopped by SIGTERM\)/);
    expect(await objects()).toEqual(before);
  }, 60_000);

  it("Ctrl-C twice: the first lets the dump in flight go on, the second cancels it and leaves nothing", async () => {
    const { proc, output, exited, before } = await backupMidDump();
    proc.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 1500));
    // Still dumping after the first: it stops after the current step, as it says.
    expect(proc.exitCode).toBeNull();
    expect(output.err).toMatch(/stopping after the current step \(SIGINT again to cancel it\)/);
    proc.kill("SIGINT");
    const code = await exited;
    expect(output.err).toMatch(/cancelling the current step/);
    expect(code, output.err).toBe(1);
    const report = JSON.parse(output.out) as { status: string; actions: { status: string; reason?: string }[] };
    expect(report.actions[0]?.reason).toMatch(/the run was cancelled \(cancelled by the user\)/);
    expect(await objects()).toEqual(before);
  }, 60_000);

  describe("the Fargate task's command line (`node bin/ops.js run backup --system demo database=inventory`)", () => {
    const claim = "pg_dump/demo/inventory/in-progress.json";
    const root = join(import.meta.dirname, "..", "..");
    /** Runs the task's command as the task would (its env: the stack's endpoints, the handed claim). */
    const runTask = async (extraEnv: Record<string, string>) => {
      const result = await run(
        process.execPath,
        // force=true only because this suite took a backup of inventory within the hour already.
        [
          join(root, "bin", "ops.js"),
          "run",
          "backup",
          "--system",
          "demo",
          "database=inventory",
          "--json",
          "force=true",
        ],
        { env: { ...process.env, ...stack.s3server.env, ...env(), ...extraEnv }, timeout: 60_000 },
      ).catch((error: { code?: number; stdout?: string; stderr?: string }) => error);
      const report = JSON.parse(String(result.stdout)) as {
        status: string;
        actions: { action: string; status: string; reason?: string; after?: { key?: string; sha256?: string } }[];
      };
      return { report, logs: `${result.stdout ?? ""}${result.stderr ?? ""}` };
    };
    /** The claim the function left for the task: live, naming the holder it put in the task's env. */
    const handClaim = (holder: string) =>
      stack.s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: claim,
          Body: JSON.stringify({
            holder,
            startedAt: new Date(Date.now() - 5_000).toISOString(),
            expiresAt: new Date(Date.now() + 20 * 60_000).toISOString(),
          }),
          ContentType: "application/json",
        }),
      );

    it("the function, over its budget, hands the database off and keeps the claim; the task's run takes it over", async () => {
      const ecs = mockClient(ECSClient);
      const taskArn = `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:task/ops-autopilot-backup/5f1c7e0b2a4d4c1e9f0a`;
      ecs
        .on(RunTaskCommand)
        .resolves({ tasks: [{ taskArn, lastStatus: "PROVISIONING", launchType: "FARGATE" }], failures: [] });
      try {
        const demo = findSystem(builtinFleet(), "demo");
        const system = systemSchema.parse({
          ...demo,
          backup: { ...demo.backup, fargate: { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0abc1234"] } },
        });
        const now = new Date();
        const ctx = testContext({
          system,
          clients: stack.clients,
          env: {
            ...env(),
            OPS_BACKUP_TASK_CLUSTER: "ops-autopilot-backup",
            OPS_BACKUP_TASK_DEFINITION: "ops-autopilot-backup",
          },
          now: () => now,
          // The real estimate of the real database cannot fit in 5 ms.
          deadline: new Date(now.getTime() + 5),
        });
        const report = await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60 });
        expect(report.actions.map((a) => [a.action, a.status])).toEqual([["hand-off", "done"]]);
        expect(report.actions[0]?.reason).toMatch(
          new RegExp(`^handed off to Fargate task ${taskArn}: estimated dump time \\d+ s .* exceeds the 0 s budget$`),
        );
        const [request] = ecs.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
        const environment = request?.overrides?.containerOverrides?.[0]?.environment ?? [];
        const holder = environment.find((e) => e.name === "OPS_CLAIM_HOLDER")?.value ?? "";
        // The claim stays in the bucket, naming the holder the task was given.
        const kept = JSON.parse((await download(claim)).toString("utf8")) as { holder: string };
        expect(kept.holder).toBe(holder);
        ecs.restore();
        const before = (await objects()).filter((k) => k.endsWith(".manifest.json")).length;
        const { report: taskReport } = await runTask({ OPS_CLAIM_HOLDER: holder, OPS_CLAIM_KEY: claim });
        expect(taskReport.status).toBe("succeeded");
        expect((await objects()).filter((k) => k.endsWith(".manifest.json")).length).toBe(before + 1);
        expect(await objects()).not.toContain(claim);
      } finally {
        ecs.restore();
      }
    }, 90_000);

    it("takes over the claim handed to it and produces a verified backup, then releases the claim", async () => {
      await handClaim("handed-by-the-function");
      // Other runs of this file (the demo is a local system) write audit records to this bucket too.
      const auditBefore = new Set(await objects("audit/demo/"));
      // CloudWatch of the deployment's region, where the task's report metrics go.
      const cloudwatch = await startCloudWatchRecorder();
      const { report, logs } = await runTask({
        OPS_CLAIM_HOLDER: "handed-by-the-function",
        OPS_CLAIM_KEY: claim,
        POWERTOOLS_LOG_LEVEL: "INFO",
        // What the task definition sets: the report goes to the audit bucket (and routed notifier) too.
        OPS_REPORT_TO: "deployment",
        OPS_AUDIT_BUCKET: BUCKET,
        OPS_METRICS_REGION: "us-east-1",
        AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.endpoint,
      }).finally(() => cloudwatch.stop());
      expect(report.status).toBe("succeeded");
      // The metrics the Lambda path would publish as EMF (tests/unit/task-metrics.test.ts compares the two).
      expect(cloudwatch.requests.map((r) => r.Namespace)).toEqual(["OpsAutopilot"]);
      expect(
        cloudwatch.requests[0]?.MetricData.map((d) => [
          d.MetricName,
          Object.fromEntries((d.Dimensions ?? []).map((x) => [x.Name, x.Value])),
        ]),
      ).toEqual([
        ["RunCompleted", { service: "ops-autopilot", System: "demo", Runbook: "backup", Status: "succeeded" }],
        ["BackupAgeSeconds", { service: "ops-autopilot", System: "demo", Database: "inventory" }],
      ]);
      // s3rver ignores conditional writes, so exclusion itself is shown in tests/unit/backup-handoff.test.ts;
      // here: the run took the claim as the handed holder.
      expect(logs).toMatch(/took over the claim handed to this run.*handed-by-the-function/);
      const done = report.actions.find((a) => a.action === "backup" && a.status === "done");
      expect(done?.after?.key).toMatch(/^pg_dump\/demo\/inventory\//);
      const { newest } = await inspectBackups(stack.s3, {
        bucket: BUCKET,
        prefix: "pg_dump",
        system: "demo",
        database: "inventory",
        now: new Date(),
      });
      // The same backup as the Lambda path: the newest verified one, its bytes matching the manifest.
      expect(newest?.backup.key).toBe(done?.after?.key);
      const bytes = await download(newest?.backup.key ?? "");
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(newest?.manifest.sha256);
      expect(newest?.manifest.bytes).toBe(bytes.length);
      expect(await objects()).not.toContain(claim);
      const audit = (await objects("audit/demo/")).filter((k) => k.endsWith("-backup.jsonl") && !auditBefore.has(k));
      expect(audit).toHaveLength(1);
      const lines = (await download(audit[0] ?? "")).toString("utf8").trim().split("\n");
      expect(lines.some((l) => l.includes(String(done?.after?.key)))).toBe(true);
    }, 90_000);
  });

  it("bad credentials: report failed with the reason, no manifest, no object, password not echoed", async () => {
    const before = await objects();
    const badUrl = `postgres://intruder:hunter2@127.0.0.1:${stack.postgres.port}/${DB}`;
    const ctx = testContext({
      system: "demo",
      clients: stack.clients,
      env: { ...env(), OPS_DATABASE_URL: badUrl, OPS_DATABASE_ID: "demo/inventory" },
      now: () => new Date(Date.now() + 7_200_000),
    });
    const report = await backupRunbook.run(ctx, { force: true, minIntervalMinutes: 60 });
    expect(report.status).toBe("failed");
    expect(report.actions[0]?.reason).toMatch(
      /cannot connect to intruder@127\.0\.0\.1:\d+\/partpal_it: .*role "intruder" does not exist/,
    );
    expect(JSON.stringify(report)).not.toContain("hunter2");
    expect(await objects()).toEqual(before);
  });

  it("prune-backups on the real bucket keeps the newest verified and removes an old dump without a manifest", async () => {
    const orphan = "pg_dump/demo/inventory/2026/01/01/20260101T030000Z.dump";
    await stack.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: orphan, Body: "partial" }));
    const ctx = testContext({ system: "demo", clients: stack.clients, now: () => new Date() });
    const report = await pruneBackupsRunbook.run(ctx, {});
    expect(report.status, report.summary).toBe("succeeded");
    const keys = await objects();
    expect(keys).not.toContain(orphan);
    expect(keys.filter((k) => k.endsWith(".dump"))).toHaveLength(1);
    expect(report.actions.find((a) => a.resource === orphan)?.reason).toBe(
      "unverified (no manifest) since 2026-01-02T03:00:00.000Z: not a backup",
    );
  });
});
