import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../lib/errors.js";
import { dumpKey, manifestKey } from "../../runbooks/backup/layout.js";
import { runbooks } from "../../runbooks/index.js";
import { pruneBackupsRunbook } from "../../runbooks/prune-backups/index.js";
import { executeRun } from "../../runbooks/runner.js";
import type { Report } from "../../runbooks/types.js";
import { builtinFleet, builtinSystems, findSystem, parseFleet } from "../../systems/index.js";
import { systemSchema } from "../../systems/schema.js";
import { memoryLogger, recordingNotifier, testClients, testContext } from "../helpers/context.js";
import { manifestFor, memoryBucket } from "../helpers/s3-memory.js";

/**
 * The data-loss scenarios of issue 10 (items 1, 2, 3 and 11), each reproduced as the review did, against
 * S3 faked in memory with API-shaped answers. Every test here fails on the code before the fix.
 */

const NOW = new Date("2026-11-21T10:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BUCKET = "partpal-ims-backups";
const partpal = () => findSystem(builtinFleet(), "partpal-ims");

type Bucket = ReturnType<typeof memoryBucket>;

/** Puts a dump and (unless `manifest` is null) its manifest; `manifest` may be raw text or overrides. */
function putBackup(
  bucket: Bucket,
  options: {
    system: string;
    prefix?: string;
    database?: string;
    at: Date;
    manifest?: string | Record<string, unknown> | null;
  },
): string {
  const database = options.database ?? "main";
  const key = dumpKey(options.prefix ?? "pg_dump", options.system, database, options.at);
  const body = `dump of ${options.system} at ${options.at.toISOString()}`;
  bucket.objects.set(key, body);
  if (options.manifest === null) return key;
  const good = manifestFor({
    key,
    bytes: Buffer.byteLength(body),
    at: options.at,
    system: options.system,
    database,
    bucket: BUCKET,
  });
  const text =
    typeof options.manifest === "string" ? options.manifest : JSON.stringify({ ...good, ...options.manifest });
  bucket.objects.set(manifestKey(key), text);
  return key;
}

const dumpsIn = (bucket: Bucket, folder: string) =>
  [...bucket.objects.keys()].filter((k) => k.startsWith(folder) && k.endsWith(".dump")).sort();

describe("issue 10: backup retention must not lose verified backups", () => {
  let bucket: Bucket;
  afterEach(() => bucket?.s3.reset());

  it("1. ten days of a good dump at 01:00 and a broken-manifest dump at 08:00: every verified daily is kept, the unverified are listed, the run is partial", async () => {
    // Prepare
    bucket = memoryBucket({ bucket: BUCKET, pageSize: 7 });
    const broken: (string | Record<string, unknown>)[] = [
      '{"version":1,"system":"partpal-ims","databa', // truncated
      { bytes: 1 }, // wrong size
      { system: "flash-sale" }, // another system's
      "not json at all",
      { key: "pg_dump/partpal-ims/main/2026/01/01/20260101T010000Z.dump" }, // another dump's
    ];
    const good: string[] = [];
    const bad: string[] = [];
    for (let d = 9; d >= 0; d--) {
      const day = NOW.getTime() - d * DAY;
      good.push(putBackup(bucket, { system: "partpal-ims", at: new Date(day - 9 * HOUR) })); // 01:00 UTC
      bad.push(
        putBackup(bucket, { system: "partpal-ims", at: new Date(day - 2 * HOUR), manifest: broken[d % 5] ?? "" }),
      ); // 08:00 UTC
    }
    // Act
    const report = await pruneBackupsRunbook.run(
      testContext({ system: partpal(), now: NOW, clients: testClients() }),
      {},
    );
    // Assess: the 7 daily slots (15–21 Nov) hold the verified 01:00 dumps; the 3 older verified ones go.
    const left = dumpsIn(bucket, "pg_dump/partpal-ims/main/");
    expect(left.filter((k) => good.includes(k))).toEqual(good.slice(3));
    expect(report.actions.filter((a) => a.action === "keep").map((a) => a.resource)).toEqual(good.slice(3));
    // Unverified dumps never fill a slot: kept for their week of grace, the 3 older than that go.
    expect(left.filter((k) => bad.includes(k))).toEqual(bad.slice(3));
    const listed = report.actions.filter((a) => a.action === "keep-unverified");
    expect(listed.map((a) => a.resource)).toEqual(bad.slice(3));
    expect(listed.map((a) => a.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unverified \(manifest is not JSON/),
        expect.stringMatching(/^unverified \(manifest names 1 bytes \(the object has \d+\)\)/),
        expect.stringMatching(/^unverified \(manifest names system "flash-sale" \(expected "partpal-ims"\)\)/),
        expect.stringMatching(/^unverified \(manifest names key "pg_dump\/partpal-ims\/main\/2026\/01\/01/),
      ]),
    );
    expect(report.status).toBe("partial");
    expect(report.summary).toMatch(/deleted 6 backups, kept 7 backups; 7 unverified dumps kept and not counted/);
    expect(report.metrics).toMatchObject({ "verified.main": 10, "unverified.main": 10, "deleted.main": 6 });
  });

  it("2. a key two days ahead is never the newest: prune fails, deletes nothing, the published age is the real one", async () => {
    // Prepare: daily verified backups, the last one 9 h old, and a verified-looking dump dated in 2 days.
    bucket = memoryBucket({ bucket: BUCKET });
    for (let d = 9; d >= 0; d--)
      putBackup(bucket, { system: "partpal-ims", at: new Date(NOW.getTime() - d * DAY - 9 * HOUR) });
    const ahead = putBackup(bucket, { system: "partpal-ims", at: new Date(NOW.getTime() + 2 * DAY) });
    const before = [...bucket.objects.keys()].sort();
    // Act
    const report = await pruneBackupsRunbook.run(
      testContext({ system: partpal(), now: NOW, clients: testClients() }),
      {},
    );
    // Assess
    expect(report.status).toBe("failed");
    expect([...bucket.objects.keys()].sort()).toEqual(before);
    expect(report.actions.find((a) => a.resource === ahead)).toMatchObject({
      status: "failed",
      reason: expect.stringMatching(/^key dated 2026-11-23T10:00:00\.000Z, 48\.0 h ahead of now: a clock is wrong/),
    });
    const age = report.series?.find((p) => p.name === "BackupAgeSeconds");
    expect(age?.value).toBe(9 * 3600);
  });

  it("2. a manifest dated in the future is suspect too, even when its key is not", async () => {
    bucket = memoryBucket({ bucket: BUCKET });
    for (let d = 3; d >= 1; d--) putBackup(bucket, { system: "partpal-ims", at: new Date(NOW.getTime() - d * DAY) });
    const at = new Date(NOW.getTime() - HOUR);
    const skewed = putBackup(bucket, {
      system: "partpal-ims",
      at,
      manifest: { finishedAt: new Date(NOW.getTime() + 3 * HOUR).toISOString() },
    });
    const report = await pruneBackupsRunbook.run(
      testContext({ system: partpal(), now: NOW, clients: testClients() }),
      {},
    );
    expect(report.status).toBe("failed");
    expect(report.actions.find((a) => a.resource === skewed)?.reason).toMatch(
      /^manifest finished .*, 3\.0 h ahead of now/,
    );
    // The newest that counts is a day old, and no age is ever negative.
    expect(report.series?.find((p) => p.name === "BackupAgeSeconds")?.value).toBe(24 * 3600);
    expect(report.series?.every((p) => p.value >= 0)).toBe(true);
  });

  it("3. system A (backups stopped 5 days ago) with system B nested under its prefix: A fails, none of B's backups is touched", async () => {
    // Prepare: A = partpal-ims under pg_dump/; B's prefix is A's database folder.
    bucket = memoryBucket({ bucket: BUCKET, pageSize: 50 });
    for (let d = 14; d >= 5; d--)
      putBackup(bucket, { system: "partpal-ims", at: new Date(NOW.getTime() - d * DAY - HOUR) });
    const nested = "pg_dump/partpal-ims/main";
    for (let i = 59; i >= 0; i--)
      putBackup(bucket, { system: "b", prefix: nested, at: new Date(NOW.getTime() - i * 6 * HOUR - HOUR) });
    const bBefore = [...bucket.objects.keys()].filter((k) => k.startsWith(`${nested}/b/`)).sort();
    expect(bBefore).toHaveLength(120);
    // Act
    const report = await pruneBackupsRunbook.run(
      testContext({ system: partpal(), now: NOW, clients: testClients() }),
      {},
    );
    // Assess
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(
      /newest verified backup is 5\.0 d old, older than the 24\.0 h limit: nothing deleted/,
    );
    expect([...bucket.objects.keys()].filter((k) => k.startsWith(`${nested}/b/`)).sort()).toEqual(bBefore);
    expect(report.series?.find((p) => p.name === "BackupAgeSeconds")?.value).toBe(5 * 24 * 3600 + 3600);
  });

  it("3. the catalogue rejects two systems whose backup paths overlap, naming both systems and both paths", () => {
    const partpalInput = builtinSystems.find((s) => s.id === "partpal-ims");
    const nested = {
      ...partpalInput,
      id: "partpal-b",
      backup: { ...partpalInput?.backup, prefix: "pg_dump/partpal-ims/main" },
    };
    const parse = () => parseFleet({ systems: [...builtinSystems, nested] }, { source: "test" });
    expect(parse).toThrow(ValidationError);
    expect(parse).toThrow(
      `system "partpal-b".backup.prefix: backup path s3://partpal-ims-backups/pg_dump/partpal-ims/main/partpal-b/ lies inside system "partpal-ims"'s backup path s3://partpal-ims-backups/pg_dump/partpal-ims/`,
    );
  });

  it("3. a prefix that is not plain folder names, or that takes the drill or audit folders, is rejected", () => {
    const partpalInput = builtinSystems.find((s) => s.id === "partpal-ims");
    for (const prefix of ["pg_dump//x", "./pg_dump", "drills", "audit/pg_dump"]) {
      const result = systemSchema.safeParse({ ...partpalInput, backup: { ...partpalInput?.backup, prefix } });
      expect(result.success, prefix).toBe(false);
    }
    const ok = systemSchema.safeParse({
      ...partpalInput,
      backup: { ...partpalInput?.backup, prefix: "backups/pg_dump" },
    });
    expect(ok.success).toBe(true);
  });
});

describe("issue 10 item 11: database=typo is the same error in every runbook", () => {
  let bucket: Bucket;
  afterEach(() => bucket?.s3.reset());

  async function runWith(runbook: string): Promise<Report> {
    const { logger } = memoryLogger();
    return executeRun(
      {
        fleet: builtinFleet(),
        registry: runbooks,
        logger,
        now: () => NOW,
        notify: recordingNotifier(),
        clientsFor: () => testClients(),
      },
      { runbook, system: "partpal-ims", input: { database: "typo" }, dryRun: false },
    );
  }

  it("prune-backups, backup and restore-drill fail alike, naming the bad id and the known ones, and touch nothing", async () => {
    bucket = memoryBucket({ bucket: BUCKET });
    putBackup(bucket, { system: "partpal-ims", at: new Date(NOW.getTime() - HOUR) });
    const before = [...bucket.objects.keys()];
    // Checked with the input, before anything runs: the same error, and exit 2 from the CLI.
    for (const name of ["prune-backups", "backup", "restore-drill"]) {
      await expect(runWith(name), name).rejects.toThrow(/unknown database "typo".*; known databases: main$/);
      await expect(runWith(name), name).rejects.toBeInstanceOf(ValidationError);
    }
    expect(bucket.s3.calls()).toHaveLength(0);
    expect([...bucket.objects.keys()]).toEqual(before);
  });
});
