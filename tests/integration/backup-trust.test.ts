import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { dumpKey, manifestKey } from "../../runbooks/backup/layout.js";
import { pruneBackupsRunbook } from "../../runbooks/prune-backups/index.js";
import { builtinFleet, builtinSystems, findSystem } from "../../systems/index.js";
import { type System, systemSchema } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { manifestFor } from "../helpers/s3-memory.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";

/**
 * Issue 10 items 1–3 on a real S3-protocol server (and, for the backups a system takes, real pg_dump):
 * nested prefixes, a dump dated two days ahead, a dump whose manifest is broken.
 */

const BUCKET = "ops-autopilot-demo";
const DB = "trust_it";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let stack: TestStack;
const env = () => ({ OPS_DEMO_DATABASE_URL: stack.postgres.url(DB), PATH: process.env.PATH });

/** The demo system under another id and prefix (schema-checked; the fleet check is tested elsewhere). */
function demoVariant(id: string, prefix: string): System {
  const demo = builtinSystems.find((s) => s.id === "demo");
  return systemSchema.parse({ ...demo, id, backup: { ...demo?.backup, prefix } });
}

async function keys(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await stack.s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
    );
    found.push(...(page.Contents ?? []).map((o) => o.Key ?? ""));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found.sort();
}

/** A dump and its manifest as `backup` writes them, taken at `at` (the manifest may be replaced by `manifest`). */
async function putBackup(options: { system: System; at: Date; manifest?: string }): Promise<string> {
  const prefix = options.system.backup?.prefix ?? "";
  const key = dumpKey(prefix, options.system.id, "inventory", options.at);
  const body = `dump of ${options.system.id} at ${options.at.toISOString()}`;
  await stack.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const good = manifestFor({
    key,
    bytes: Buffer.byteLength(body),
    at: options.at,
    system: options.system.id,
    database: "inventory",
    bucket: BUCKET,
  });
  await stack.s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: manifestKey(key), Body: options.manifest ?? JSON.stringify(good) }),
  );
  return key;
}

const context = (system: System) => testContext({ system, clients: stack.clients, env: env(), now: () => new Date() });

beforeAll(async () => {
  stack = await startTestStack([BUCKET]);
  await ensureDatabase(stack.postgres.connection(), DB);
  await seedInventory(stack.postgres.connection(DB), { scale: 0.02 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe("backups that cannot be trusted, on a real S3-protocol server", () => {
  it("system A (backups stopped 5 days ago) and B nested under A's database folder: A fails, none of B's backups is touched", async () => {
    // Prepare: A is the demo system; B's prefix is A's database folder, pg_dump/demo/inventory.
    const a = findSystem(builtinFleet(), "demo");
    const b = demoVariant("nested", "pg_dump/demo/inventory");
    for (let d = 12; d >= 5; d--) await putBackup({ system: a, at: new Date(Date.now() - d * DAY - HOUR) });
    for (let d = 10; d >= 1; d--) await putBackup({ system: b, at: new Date(Date.now() - d * DAY) });
    const taken = await backupRunbook.run(context(b), backupRunbook.input.parse({}));
    expect(taken.status, taken.summary).toBe("succeeded");
    const bKeys = await keys("pg_dump/demo/inventory/nested/");
    expect(bKeys.filter((k) => k.endsWith(".dump"))).toHaveLength(11);
    // Act
    const report = await pruneBackupsRunbook.run(context(a), {});
    // Assess
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(
      /newest verified backup is 5\.0 d old, older than the 24\.0 h limit: nothing deleted/,
    );
    expect(await keys("pg_dump/demo/inventory/nested/")).toEqual(bKeys);
    expect(report.actions.find((a) => a.action === "ignore")?.reason).toMatch(/^22 objects not in the layout/);
    // B's own retention still works on its own folder.
    const own = await pruneBackupsRunbook.run(context(b), {});
    expect(own.status, own.summary).toBe("succeeded");
    const dumps = bKeys.filter((k) => k.endsWith(".dump"));
    const left = (await keys("pg_dump/demo/inventory/nested/")).filter((k) => k.endsWith(".dump"));
    // The 7 newest are the daily slots; whatever went was older than all of them.
    expect(left).toEqual(expect.arrayContaining(dumps.slice(-7)));
    expect(left.length).toBeLessThan(dumps.length);
  }, 120_000);

  it("a dump dated two days ahead: backup still runs (and says why it ignored it), prune fails, the age is not negative", async () => {
    // Prepare
    const system = demoVariant("clock", "skewed");
    await putBackup({ system, at: new Date(Date.now() - DAY) });
    const ahead = await putBackup({ system, at: new Date(Date.now() + 2 * DAY) });
    // Act: an at-least-once event would have skipped "younger than 60 min" on the future dump.
    const backup = await backupRunbook.run(context(system), backupRunbook.input.parse({}));
    const prune = await pruneBackupsRunbook.run(context(system), {});
    // Assess
    expect(backup.status, backup.summary).toBe("succeeded");
    expect(backup.actions.find((x) => x.resource === ahead)).toMatchObject({
      action: "ignore-backup",
      reason: expect.stringMatching(/^not counted as the newest backup: key dated .*, 48\.0 h ahead of now/),
    });
    expect(backup.actions.find((x) => x.action === "backup")?.status).toBe("done");
    expect(prune.status).toBe("failed");
    expect(prune.actions.find((x) => x.resource === ahead)?.status).toBe("failed");
    const age = prune.series?.find((p) => p.name === "BackupAgeSeconds")?.value ?? -1;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(600);
    expect((await keys("skewed/clock/")).filter((k) => k.endsWith(".dump"))).toHaveLength(3);
  }, 120_000);

  it("a dump with a broken manifest beside a real backup: never counted, kept and listed, the run is partial", async () => {
    const system = demoVariant("broken", "broken");
    const taken = await backupRunbook.run(context(system), backupRunbook.input.parse({}));
    expect(taken.status, taken.summary).toBe("succeeded");
    const truncated = await putBackup({ system, at: new Date(Date.now() - 2 * HOUR), manifest: '{"version":1,"sys' });
    const report = await pruneBackupsRunbook.run(context(system), {});
    expect(report.status).toBe("partial");
    expect(report.actions.find((a) => a.resource === truncated)).toMatchObject({
      action: "keep-unverified",
      reason: expect.stringMatching(/^unverified \(manifest is not JSON .*\): not counted, kept until /),
    });
    expect(await keys("broken/broken/")).toContain(truncated);
  }, 120_000);
});
