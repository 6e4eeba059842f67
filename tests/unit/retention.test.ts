import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import type { CheckedBackup, StoredBackup } from "../../runbooks/backup/catalog.js";
import { dumpKey, manifestKey } from "../../runbooks/backup/layout.js";
import { decideRetention } from "../../runbooks/backup/retention.js";
import { pruneBackupsRunbook } from "../../runbooks/prune-backups/index.js";
import { testClients, testContext } from "../helpers/context.js";

const NOW = new Date("2026-11-21T10:00:00Z");
const HOUR = 3_600_000;

/** A check result for {@link decideRetention}: the manifest itself is not looked at there. */
const VERIFIED = { state: "verified", manifest: {} } as CheckedBackup["check"];

/** 400 backups, one every 6 hours back from 02:00 today (100 days), all with manifests. */
function synthetic(count = 400): CheckedBackup[] {
  const backups: CheckedBackup[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const takenAt = new Date(Date.UTC(2026, 10, 21, 2) - i * 6 * HOUR);
    const key = dumpKey("pg_dump", "partpal-ims", "main", takenAt);
    backups.push({ key, takenAt, bytes: 1000, manifestKey: manifestKey(key), check: VERIFIED });
  }
  return backups;
}

describe("retention decisions", () => {
  it("over 400 backups keeps exactly the newest of each of the last 7 days, 4 weeks and 6 months", () => {
    const backups = synthetic();
    const decisions = decideRetention(backups, {
      policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 },
      timezone: "Africa/Johannesburg",
      now: NOW,
    });
    const kept = decisions.filter((d) => d.keep).map((d) => d.takenAt.toISOString());
    // Local SAST days: the newest backup of a day is the one at 20:00 UTC (22:00 SAST), except today.
    expect(kept).toEqual([
      "2026-08-31T20:00:00.000Z", // monthly 2026-08 (first month of the 100-day window)
      "2026-09-30T20:00:00.000Z", // monthly 2026-09
      "2026-10-31T20:00:00.000Z", // monthly 2026-10
      "2026-11-01T20:00:00.000Z", // weekly 2026-W44 (Sunday 1 Nov, local)
      "2026-11-08T20:00:00.000Z", // weekly 2026-W45
      "2026-11-15T20:00:00.000Z", // daily 2026-11-15 (7th newest day) + weekly 2026-W46
      "2026-11-16T20:00:00.000Z",
      "2026-11-17T20:00:00.000Z",
      "2026-11-18T20:00:00.000Z",
      "2026-11-19T20:00:00.000Z",
      "2026-11-20T20:00:00.000Z",
      "2026-11-21T02:00:00.000Z", // newest (daily 2026-11-21, weekly W47, monthly 2026-11)
    ]);
    expect(decisions.filter((d) => !d.keep)).toHaveLength(400 - 12);
    const newest = decisions.at(-1);
    expect(newest?.reasons[0]).toBe("newest verified backup");
  });

  it("never removes the newest verified backup, even with a one-day policy, nor a newer unverified dump", () => {
    const backups = synthetic(10).map((b, i) =>
      i > 4 ? { ...b, check: { state: "bad-manifest" as const, reason: "manifest names 1 bytes" } } : b,
    );
    const middle = backups[4]?.key;
    const decisions = decideRetention(backups, {
      policy: { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 },
      timezone: "UTC",
      now: NOW,
    });
    // The newest verified is kept; newer dumps that are not verified are kept too (inside their grace).
    const kept = decisions.filter((d) => d.keep).map((d) => d.key);
    expect(kept).toEqual(backups.slice(4).map((b) => b.key));
    expect(decisions.find((d) => d.key === middle)?.reasons[0]).toBe("newest verified backup");
  });

  it("dumps without a manifest are not backups: removed after a day, kept while they may be finishing", () => {
    const old = dumpKey("p", "s", "d", new Date(NOW.getTime() - 30 * HOUR));
    const fresh = dumpKey("p", "s", "d", new Date(NOW.getTime() - HOUR));
    const good = dumpKey("p", "s", "d", new Date(NOW.getTime() - 2 * HOUR));
    const none = { state: "no-manifest" as const, reason: "no manifest" };
    const decisions = decideRetention(
      [
        { key: old, takenAt: new Date(NOW.getTime() - 30 * HOUR), bytes: 1, check: none },
        {
          key: good,
          takenAt: new Date(NOW.getTime() - 2 * HOUR),
          bytes: 1,
          manifestKey: manifestKey(good),
          check: VERIFIED,
        },
        { key: fresh, takenAt: new Date(NOW.getTime() - HOUR), bytes: 1, check: none },
      ],
      { policy: { keepDaily: 7, keepWeekly: 0, keepMonthly: 0 }, timezone: "UTC", now: NOW },
    );
    expect(decisions.map((d) => [d.key, d.keep, d.reasons[0]])).toEqual([
      [old, false, "unverified (no manifest) since 2026-11-21T04:00:00.000Z: not a backup"],
      [good, true, "newest verified backup"],
      [fresh, true, "unverified (no manifest): not counted, kept until 2026-11-22T09:00:00.000Z"],
    ]);
  });

  it.each([
    ["no-manifest", 23, true, "kept until"],
    ["no-manifest", 25, false, "not a backup"],
    ["bad-manifest", 6 * 24, true, "kept until"],
    ["bad-manifest", 8 * 24, false, "not a backup"],
    ["future", 0, true, "dated in the future"],
  ] as const)("a %s dump %i h old: keep=%s (%s)", (state, hoursOld, keep, reason) => {
    const at = new Date(NOW.getTime() - hoursOld * HOUR - (state === "future" ? -48 * HOUR : 0));
    const key = dumpKey("p", "s", "d", at);
    const verified = synthetic(30);
    const check = state === "future" ? { state, reason: "key dated ahead" } : { state, reason: "why" };
    const decisions = decideRetention([...verified, { key, takenAt: at, bytes: 1, check }], {
      policy: { keepDaily: 7, keepWeekly: 0, keepMonthly: 0 },
      timezone: "UTC",
      now: NOW,
    });
    const d = decisions.find((x) => x.key === key);
    expect(d?.keep).toBe(keep);
    expect(d?.reasons.join(", ")).toContain(reason);
    // Whatever it is, it never takes a daily slot from a verified backup.
    expect(decisions.filter((x) => x.keep && x.state === "verified")).toHaveLength(7);
  });

  it("an unverified dump past its grace stays while nothing newer is verified", () => {
    const at = new Date(NOW.getTime() - 25 * HOUR);
    const key = dumpKey("p", "s", "d", at);
    const older = synthetic(30).filter((b) => b.takenAt < at);
    const decisions = decideRetention(
      [...older, { key, takenAt: at, bytes: 1, check: { state: "no-manifest", reason: "no manifest" } }],
      {
        policy: { keepDaily: 7, keepWeekly: 0, keepMonthly: 0 },
        timezone: "UTC",
        now: NOW,
      },
    );
    expect(decisions.find((d) => d.key === key)).toMatchObject({
      keep: true,
      reasons: ["unverified (no manifest): not counted, kept while no newer verified backup exists"],
    });
  });
});

/** S3 ListObjectsV2 pages in the API's shape, `pageSize` keys each. */
function listPages(keys: { Key: string; Size: number }[], pageSize: number) {
  const pages = [];
  for (let i = 0; i < keys.length; i += pageSize) {
    const last = i + pageSize >= keys.length;
    pages.push({
      $metadata: { httpStatusCode: 200 },
      Name: "partpal-ims-backups",
      Prefix: "pg_dump/partpal-ims/main/",
      KeyCount: Math.min(pageSize, keys.length - i),
      MaxKeys: pageSize,
      IsTruncated: !last,
      ...(i > 0 ? { ContinuationToken: `t${i}` } : {}),
      ...(last ? {} : { NextContinuationToken: `t${i + pageSize}` }),
      Contents: keys.slice(i, i + pageSize).map((k) => ({
        ...k,
        LastModified: NOW,
        ETag: '"0123456789abcdef0123456789abcdef"',
        StorageClass: "STANDARD",
      })),
    });
  }
  return pages;
}

/** The start time a dump key encodes, as backup writes it in the manifest. */
function startOf(key: string): string {
  const t = /(\d{8}T\d{6}Z)\.dump$/.exec(key)?.[1] ?? "";
  return `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}.000Z`;
}

function manifestBody(key: string, bytes: number) {
  const manifest = {
    version: 1,
    system: "partpal-ims",
    database: "main",
    databaseName: "partpal_ims",
    bucket: "partpal-ims-backups",
    key,
    bytes,
    sha256: "a".repeat(64),
    format: "custom",
    compression: 1,
    serverVersion: "15.4",
    pgDumpVersion: "15.18",
    databaseBytes: 5000,
    startedAt: startOf(key),
    finishedAt: startOf(key),
    durationMs: 100,
    tables: [],
    encryption: "AES256",
  };
  // The SDK's streaming body; the code under test reads it with transformToString only.
  return { transformToString: async () => JSON.stringify(manifest) } as never;
}

describe("prune-backups runbook (S3 faked with API-shaped responses)", () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  function setup(backups: StoredBackup[]) {
    const objects = backups.flatMap((b) => [
      { Key: b.key, Size: b.bytes },
      ...(b.manifestKey ? [{ Key: b.manifestKey, Size: 700 }] : []),
    ]);
    const pages = listPages(objects, 250);
    s3.on(ListObjectsV2Command).callsFake((input: { ContinuationToken?: string }) => {
      const index = input.ContinuationToken ? Number(input.ContinuationToken.slice(1)) / 250 : 0;
      return pages[index];
    });
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => ({
      Body: manifestBody(input.Key.replace(".manifest.json", ""), 1000),
    }));
    s3.on(DeleteObjectsCommand).callsFake((input: { Delete: { Objects: { Key: string }[] } }) => ({
      Deleted: input.Delete.Objects.map((o) => ({ Key: o.Key })),
    }));
  }

  it("pages through 800 objects and deletes exactly the dumps (and manifests) retention lets go", async () => {
    const backups = synthetic();
    setup(backups);
    const ctx = testContext({ system: "partpal-ims", now: NOW, clients: testClients() });
    const report = await pruneBackupsRunbook.run(ctx, {});
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(4);
    const deleted = s3.commandCalls(DeleteObjectsCommand).flatMap((c) => c.args[0].input.Delete?.Objects ?? []);
    expect(deleted).toHaveLength(2 * (400 - 12));
    expect(deleted.some((o) => o.Key === backups.at(-1)?.key)).toBe(false);
    expect(
      s3.commandCalls(DeleteObjectsCommand).every((c) => (c.args[0].input.Delete?.Objects?.length ?? 0) <= 1000),
    ).toBe(true);
    expect(report.status).toBe("succeeded");
    expect(report.metrics["deleted.main"]).toBe(388);
    expect(report.series?.[0]).toMatchObject({
      name: "BackupAgeSeconds",
      value: 8 * 3600,
      dimensions: { System: "partpal-ims", Database: "main" },
    });
  });

  it("dry run lists what would go and what stays, and deletes nothing", async () => {
    setup(synthetic());
    const report = await pruneBackupsRunbook.run(testContext({ system: "partpal-ims", now: NOW, dryRun: true }), {});
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
    expect(report.actions.filter((a) => a.status === "would-do")).toHaveLength(388);
    expect(report.actions.filter((a) => a.action === "keep").map((a) => a.reason)).toContain(
      "newest verified backup, daily 2026-11-21, weekly 2026-W47, monthly 2026-11",
    );
    expect(report.summary).toBe("would delete 388 backups, kept 12 backups");
  });

  it("a newest backup older than the RPO blocks pruning and fails the run", async () => {
    setup(synthetic());
    const later = new Date(NOW.getTime() + 48 * HOUR);
    const report = await pruneBackupsRunbook.run(testContext({ system: "partpal-ims", now: later }), {});
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(/56\.0 h old, older than the 24\.0 h limit: nothing deleted/);
  });

  it("with no verified backup it deletes nothing and fails", async () => {
    setup(synthetic(5).map(({ manifestKey: _m, ...b }) => b));
    const report = await pruneBackupsRunbook.run(testContext({ system: "partpal-ims", now: NOW }), {});
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(/no verified backup among 5/);
  });

  it("a second run right after the first deletes nothing more (idempotent)", async () => {
    const backups = synthetic();
    setup(backups);
    await pruneBackupsRunbook.run(testContext({ system: "partpal-ims", now: NOW }), {});
    const kept = decideRetention(backups, {
      policy: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 },
      timezone: "Africa/Johannesburg",
      now: NOW,
    }).filter((d) => d.keep);
    s3.reset();
    setup(backups.filter((b) => kept.some((k) => k.key === b.key)));
    const again = await pruneBackupsRunbook.run(testContext({ system: "partpal-ims", now: NOW }), {});
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
    expect(again.summary).toBe("deleted 0 backups, kept 12 backups");
  });
});
