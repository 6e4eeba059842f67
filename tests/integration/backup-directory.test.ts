import { createHash } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import { connect } from "../../lib/postgres/server.js";
import { chooseTool, createPgTools, findTools } from "../../lib/postgres/tools.js";
import { createTempDirPort } from "../../lib/tempdir.js";
import { checkAllBackups } from "../../runbooks/backup/catalog.js";
import { dumpDirectoryToS3 } from "../../runbooks/backup/dump-directory.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { type Manifest, manifestSchema } from "../../runbooks/backup/manifest.js";
import { restoreBackup } from "../../runbooks/backup/restore-directory.js";
import { pruneBackupsRunbook } from "../../runbooks/prune-backups/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import type { Report } from "../../runbooks/types.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { type System, systemSchema } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";

const BUCKET = "ops-autopilot-demo";
const DB = "partpal_dir";
const FOLDER = "pg_dump/demo/inventory/";

let stack: TestStack;
let system: System;
// Each backup runs its clock an hour further on, so no two share a timestamp.
let hour = 0;

const env = () => ({ OPS_DEMO_DATABASE_URL: stack.postgres.url(DB), PATH: process.env.PATH });

function context(extra: { now?: Date } = {}) {
  const at = extra.now ?? new Date(Date.now() + ++hour * 3_600_000);
  return testContext({
    system,
    clients: stack.clients,
    env: env(),
    now: () => at,
    ports: { tempDir: createTempDirPort(stack.dir) },
  });
}

async function keys(prefix = FOLDER): Promise<{ key: string; size: number }[]> {
  const listing = await stack.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (listing.Contents ?? [])
    .map((o) => ({ key: o.Key ?? "", size: o.Size ?? 0 }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function download(key: string): Promise<Buffer> {
  const object = await stack.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
}

async function readManifest(key: string): Promise<Manifest> {
  return manifestSchema.parse(JSON.parse((await download(`${key}.manifest.json`)).toString("utf8")));
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

/** Takes a directory backup through the runbook; returns its key. */
async function takeBackup(at?: Date): Promise<string> {
  const report = await backupRunbook.run(context(at ? { now: at } : {}), { force: true, minIntervalMinutes: 60 });
  expect(report.status, report.summary).toBe("succeeded");
  const done = report.actions.find((a) => a.action === "backup" && a.status === "done");
  return (done?.after as { key?: string } | undefined)?.key ?? "";
}

const drillsOf = (report: Report) =>
  (report.details as { drills?: { outcome: string; checks: { name: string; status: string; actual?: string }[] }[] })
    ?.drills ?? [];

async function listed(now = new Date(Date.now() + 1000 * 3_600_000)) {
  return checkAllBackups(stack.s3, { bucket: BUCKET, prefix: "pg_dump", system: "demo", database: "inventory", now });
}

async function clearFolder(): Promise<void> {
  for (const { key } of await keys()) await stack.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}

beforeAll(async () => {
  stack = await startTestStack([BUCKET]);
  await ensureDatabase(stack.postgres.connection(), DB);
  await seedInventory(stack.postgres.connection(DB), { scale: 0.3 });
  const demo = findSystem(builtinFleet(), "demo");
  system = systemSchema.parse({
    ...demo,
    databases: demo.databases.map((d) => ({ ...d, backup: { format: "directory", jobs: 2 } })),
  });
});

afterAll(async () => {
  await stack?.stop();
});

describe("directory-format backups (pg_dump -Fd -j 2) on real PostgreSQL and a real S3-protocol server", () => {
  it("round trip: dump → files uploaded → manifest → verified by retention → drill and restore with -j → same rows", async () => {
    await clearFolder();
    const key = await takeBackup();
    expect(key).toMatch(/^pg_dump\/demo\/inventory\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z\.dir$/);
    const manifest = await readManifest(key);
    expect(manifest).toMatchObject({ format: "directory", jobs: 2, key });
    // toc.dat and one data file per table, each in the bucket with the size and sha256 the manifest says.
    const names = (manifest.files ?? []).map((f) => f.name);
    expect(names).toContain("toc.dat");
    expect(names.filter((n) => /^\d+\.dat\.gz$/.test(n))).toHaveLength(3);
    for (const file of manifest.files ?? []) {
      const body = await download(`${key}/${file.name}`);
      expect(body.length, file.name).toBe(file.bytes);
      expect(createHash("sha256").update(body).digest("hex"), file.name).toBe(file.sha256);
    }
    expect(manifest.bytes).toBe((manifest.files ?? []).reduce((s, f) => s + f.bytes, 0));
    expect((await keys()).map((k) => k.key)).toEqual(
      [...names.map((n) => `${key}/${n}`), `${key}.manifest.json`].sort(),
    );

    // Retention sees one verified backup (not one per file) and keeps it.
    const found = await listed();
    expect(found.checked).toHaveLength(1);
    expect(found.checked[0]?.check.state).toBe("verified");
    expect(found.foreign).toEqual([]);
    const prune = await pruneBackupsRunbook.run(context(), {});
    expect(prune.metrics["verified.inventory"]).toBe(1);
    expect(prune.metrics["backups.inventory"]).toBe(1);

    // The drill restores it with pg_restore -j and compares the exact counts of the manifest.
    const drill = await restoreDrillRunbook.run(context(), restoreDrillRunbook.input.parse({ jobs: 2 }));
    expect(drill.status, drill.summary).toBe("succeeded");
    const [record] = drillsOf(drill);
    expect(record?.outcome).toBe("passed");
    const checks = new Map(record?.checks.map((c) => [c.name, c]));
    expect(checks.get("checksum")?.status).toBe("passed");
    expect(checks.get("pg_restore exit status")?.status).toBe("passed");
    expect(checks.get("rows public.parts")?.status).toBe("passed");

    // What `ops restore` runs: every file downloaded and checked, then pg_restore -j 2 into a new database.
    await ensureDatabase(stack.postgres.connection(), "restored_dir");
    const tool = chooseTool(
      await findTools({ name: "pg_restore", path: process.env.PATH ?? "" }),
      { major: 0, version: "0" },
      "pg_restore",
    );
    const result = await restoreBackup(manifest, {
      s3: stack.s3,
      bucket: BUCKET,
      tool,
      conn: stack.postgres.connection("restored_dir"),
      mode: "stream",
      jobs: 2,
      tempDir: stack.dir,
      baseEnv: process.env,
      pgTools: createPgTools({ extraDirs: [], path: process.env.PATH ?? "", env: process.env }),
    });
    expect(result).toMatchObject({
      mode: "download",
      ran: true,
      checksumOk: true,
      exitCode: 0,
      sha256: manifest.sha256,
    });
    expect(result.tablesCreated).toBe(3);
    const original = await fingerprint(DB);
    expect(Object.keys(original)).toEqual(["parts", "sales", "vehicles"]);
    expect(await fingerprint("restored_dir")).toEqual(original);
  });

  it("uploads data files while pg_dump still runs (on its 'finished item' lines), the rest after it exits", async () => {
    const tool = chooseTool(
      await findTools({ name: "pg_dump", path: process.env.PATH ?? "" }),
      { major: 0, version: "0" },
      "pg_dump",
    );
    const key = "pg_dump/demo/inventory/2020/01/01/20200101T000000Z.dir";
    const result = await dumpDirectoryToS3({
      tool,
      conn: stack.postgres.connection(DB),
      compression: 1,
      s3: stack.s3,
      bucket: BUCKET,
      key,
      jobs: 2,
      tempDir: createTempDirPort(stack.dir),
      pgTools: createPgTools({ extraDirs: [], path: process.env.PATH ?? "", env: process.env }),
    });
    expect(result.uploadedEarly).toBeGreaterThanOrEqual(1);
    expect(result.files.map((f) => f.name)).toContain("toc.dat");
    // The local copies are gone: the task's disk holds only what is not uploaded yet.
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(stack.dir)).filter((n) => n.startsWith("ops-dump-"))).toEqual([]);
    for (const f of result.files)
      await stack.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${key}/${f.name}` }));
  });

  it("a corrupted file is detected on restore: the drill fails and nothing is restored", async () => {
    await clearFolder();
    const key = await takeBackup();
    const manifest = await readManifest(key);
    const data = (manifest.files ?? []).find((f) => f.name !== "toc.dat" && f.bytes > 100);
    if (!data) throw new Error("no data file");
    // The same size, other bytes: a listing cannot tell (it compares sizes); the restore's sha256 does.
    const body = await download(`${key}/${data.name}`);
    body[Math.floor(body.length / 2)] = (body[Math.floor(body.length / 2)] ?? 0) ^ 0xff;
    await stack.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${key}/${data.name}`, Body: body }));

    const drill = await restoreDrillRunbook.run(context(), restoreDrillRunbook.input.parse({ jobs: 2 }));
    expect(drill.status).toBe("failed");
    const [record] = drillsOf(drill);
    expect(record?.outcome).toBe("failed");
    const checks = new Map(record?.checks.map((c) => [c.name, c]));
    expect(checks.get("checksum")?.status).toBe("failed");
    expect(checks.get("pg_restore exit status")?.status).toBe("skipped");
    const restore = drill.actions.find((a) => a.action === "restore" && a.status === "failed");
    expect(restore?.reason).toMatch(/sha256\/size do not match the manifest/);
  });

  it("a directory backup with a missing file is not verified and not counted; its files go together when retention lets it go", async () => {
    await clearFolder();
    const older = await takeBackup();
    const manifest = await readManifest(older);
    const data = (manifest.files ?? []).find((f) => f.name !== "toc.dat");
    await stack.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${older}/${data?.name}` }));
    // Ten days on: the broken one is past its grace, and a newer backup is verified.
    const later = new Date(Date.now() + (hour + 240) * 3_600_000);
    const newer = await takeBackup(later);

    const found = await listed(new Date(later.getTime() + 60_000));
    const states = new Map(found.checked.map((b) => [b.key, b.check]));
    expect(states.get(older)).toMatchObject({ state: "bad-manifest" });
    expect((states.get(older) as { reason: string }).reason).toMatch(new RegExp(`1 missing file \\(${data?.name}\\)`));
    expect(states.get(newer)?.state).toBe("verified");
    expect(found.newest?.backup.key).toBe(newer);

    // Retention lets the broken one go: all its objects, manifest first, reported as one backup.
    const prune = await pruneBackupsRunbook.run(context({ now: new Date(later.getTime() + 60_000) }), {});
    expect(prune.metrics["verified.inventory"]).toBe(1);
    expect(prune.metrics["unverified.inventory"]).toBe(1);
    const deleted = prune.actions.filter((a) => a.action === "delete" && a.status === "done");
    expect(deleted.map((a) => a.resource)).toEqual([older]);
    const left = (await keys()).map((k) => k.key);
    expect(left.filter((k) => k.startsWith(older))).toEqual([]);
    expect(left).toContain(`${newer}.manifest.json`);
  });

  it("files without a manifest (an upload cut short) are not a backup: never verified, never the newest", async () => {
    await clearFolder();
    const good = await takeBackup();
    const partial = "pg_dump/demo/inventory/2099/01/01/20990101T000000Z.dir".replace(
      "2099/01/01/20990101",
      "2026/01/01/20260101",
    );
    await stack.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${partial}/3358.dat.gz`, Body: "x" }));
    const found = await listed();
    const check = found.checked.find((b) => b.key === partial)?.check;
    expect(check?.state).toBe("no-manifest");
    expect(found.newest?.backup.key).toBe(good);
  });
});
