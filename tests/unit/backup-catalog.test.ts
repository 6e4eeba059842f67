import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterEach, describe, expect, it } from "vitest";
import { UnknownNameError } from "../../lib/errors.js";
import {
  type BackupScope,
  checkAllBackups,
  FUTURE_TOLERANCE_MS,
  inspectBackups,
  judgeManifest,
  MANIFEST_READ_CONCURRENCY,
} from "../../runbooks/backup/catalog.js";
import { dumpKey, manifestKey, parseDumpKey } from "../../runbooks/backup/layout.js";
import { selectDatabases, UnknownDatabaseError } from "../../runbooks/databases.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { testClients } from "../helpers/context.js";
import { manifestFor, memoryBucket } from "../helpers/s3-memory.js";

const NOW = new Date("2026-11-21T10:00:00Z");
const HOUR = 3_600_000;
const SCOPE: BackupScope = {
  bucket: "partpal-ims-backups",
  prefix: "pg_dump",
  system: "partpal-ims",
  database: "main",
};

describe("the exact backup layout", () => {
  it.each([
    ["pg_dump/partpal-ims/main/2026/11/21/20261121T010000Z.dump", "2026-11-21T01:00:00.000Z"],
    // Another system nested below this database's folder (prefix pg_dump/partpal-ims/main).
    ["pg_dump/partpal-ims/main/b/main/2026/11/21/20261121T010000Z.dump", undefined],
    // The day folder disagrees with the timestamp.
    ["pg_dump/partpal-ims/main/2026/11/20/20261121T010000Z.dump", undefined],
    // No day folders, an impossible date, a copy with a suffix, another database.
    ["pg_dump/partpal-ims/main/20261121T010000Z.dump", undefined],
    ["pg_dump/partpal-ims/main/2026/02/30/20260230T010000Z.dump", undefined],
    ["pg_dump/partpal-ims/main/2026/11/21/copy-20261121T010000Z.dump", undefined],
    ["pg_dump/partpal-ims/main-2/2026/11/21/20261121T010000Z.dump", undefined],
  ])("%s → %s", (key, expected) => {
    expect(parseDumpKey(key, SCOPE)?.toISOString()).toBe(expected);
  });

  it("every key dumpKey makes parses back to its time (to the second)", () => {
    for (let i = 0; i < 500; i++) {
      const at = new Date(Date.UTC(2020, 0, 1) + i * 7_777_777_000);
      const key = dumpKey(SCOPE.prefix, SCOPE.system, SCOPE.database, at);
      expect(parseDumpKey(key, SCOPE)?.getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);
    }
  });
});

describe("judging a manifest against its dump", () => {
  const at = new Date(NOW.getTime() - HOUR);
  const key = dumpKey(SCOPE.prefix, SCOPE.system, SCOPE.database, at);
  const backup = { key, takenAt: at, bytes: 1234, manifestKey: manifestKey(key) };
  const good = manifestFor({ key, bytes: 1234, at, system: "partpal-ims", database: "main", bucket: SCOPE.bucket });
  const judge = (changes: Record<string, unknown> | string) =>
    judgeManifest(typeof changes === "string" ? changes : JSON.stringify({ ...good, ...changes }), {
      backup,
      scope: SCOPE,
      now: NOW,
    });

  it("a manifest as backup writes it is verified", () => {
    expect(judge({}).state).toBe("verified");
  });

  it.each([
    ['{"version":1,', /^manifest is not JSON/],
    [{ sha256: "nope" }, /^manifest does not match the schema \(sha256: /],
    [{ key: `${key}.old` }, /^manifest names key ".*\.old"$/],
    [{ bytes: 1233 }, /^manifest names 1233 bytes \(the object has 1234\)$/],
    [{ system: "flash-sale" }, /^manifest names system "flash-sale" \(expected "partpal-ims"\)$/],
    [{ database: "other" }, /^manifest names database "other" \(expected "main"\)$/],
    [{ bucket: "elsewhere" }, /^manifest names bucket "elsewhere" \(expected "partpal-ims-backups"\)$/],
    [
      { startedAt: "2026-11-20T09:00:00.000Z" },
      /^manifest names startedAt .* \(the key says 2026-11-21T09:00:00\.000Z\)$/,
    ],
    [{ finishedAt: "2026-11-21T08:00:00.000Z" }, /^manifest names finishedAt "2026-11-21T08:00:00\.000Z"$/],
  ] as const)("%j is not verified", (changes, reason) => {
    const check = judge(changes as Record<string, unknown> | string);
    expect(check.state).toBe("bad-manifest");
    expect(check.state !== "verified" && check.reason).toMatch(reason);
  });

  it("a manifest finished beyond the tolerance ahead of now is suspect; within it, verified", () => {
    const justInside = new Date(NOW.getTime() + FUTURE_TOLERANCE_MS - 1000).toISOString();
    const outside = new Date(NOW.getTime() + FUTURE_TOLERANCE_MS + 60_000).toISOString();
    expect(judge({ finishedAt: justInside }).state).toBe("verified");
    expect(judge({ finishedAt: outside })).toMatchObject({
      state: "future",
      reason: /^manifest finished .*, 6 min ahead/,
    });
  });
});

describe("reading every manifest", () => {
  let bucket: ReturnType<typeof memoryBucket>;
  afterEach(() => bucket?.s3.reset());

  function fill(count: number) {
    for (let i = 0; i < count; i++) {
      const at = new Date(NOW.getTime() - (i + 1) * HOUR);
      const key = dumpKey(SCOPE.prefix, SCOPE.system, SCOPE.database, at);
      bucket.objects.set(key, "x".repeat(10));
      bucket.objects.set(
        manifestKey(key),
        JSON.stringify(
          manifestFor({ key, bytes: 10, at, system: SCOPE.system, database: SCOPE.database, bucket: SCOPE.bucket }),
        ),
      );
    }
  }

  it("pages through the listing and reads manifests at most 8 at a time, not one after another", async () => {
    bucket = memoryBucket({ bucket: SCOPE.bucket, pageSize: 25 });
    fill(60);
    let inFlight = 0;
    let widest = 0;
    bucket.s3.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
      inFlight++;
      widest = Math.max(widest, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      const body = bucket.objects.get(input.Key) ?? "";
      return { Body: { transformToString: async () => body } as never };
    });
    const result = await checkAllBackups(testClients().s3, { ...SCOPE, now: NOW });
    expect(bucket.s3.commandCalls(ListObjectsV2Command)).toHaveLength(5);
    expect(bucket.s3.commandCalls(GetObjectCommand)).toHaveLength(60);
    expect(widest).toBe(MANIFEST_READ_CONCURRENCY);
    expect(result.checked.every((b) => b.check.state === "verified")).toBe(true);
    expect(result.newest?.backup.takenAt.toISOString()).toBe("2026-11-21T09:00:00.000Z");
  });

  it("a manifest that cannot be read (access denied) fails the whole check: no decision on a partial picture", async () => {
    bucket = memoryBucket({ bucket: SCOPE.bucket });
    fill(3);
    bucket.s3.on(GetObjectCommand).rejects(Object.assign(new Error("Access Denied"), { name: "AccessDenied" }));
    await expect(checkAllBackups(testClients().s3, { ...SCOPE, now: NOW })).rejects.toThrow(
      /^cannot read manifest s3:\/\/partpal-ims-backups\/pg_dump\/partpal-ims\/main\/.*: Access Denied$/,
    );
  });

  it("the newest for backup and drills passes over a future-dated dump, and says so", async () => {
    bucket = memoryBucket({ bucket: SCOPE.bucket });
    fill(2);
    const ahead = dumpKey(SCOPE.prefix, SCOPE.system, SCOPE.database, new Date(NOW.getTime() + 48 * HOUR));
    bucket.objects.set(ahead, "x");
    const result = await inspectBackups(testClients().s3, { ...SCOPE, now: NOW });
    expect(result.newest?.backup.takenAt.toISOString()).toBe("2026-11-21T09:00:00.000Z");
    expect(result.passedOver).toMatchObject([{ key: ahead, check: { state: "future" } }]);
  });
});

describe("selecting databases from input", () => {
  const system = findSystem(builtinFleet(), "partpal-ims");

  it("no id: every database; a known id: that one", () => {
    expect(selectDatabases(system, undefined).map((d) => d.id)).toEqual(["main"]);
    expect(selectDatabases(system, "main").map((d) => d.id)).toEqual(["main"]);
  });

  it("an unknown id throws a typed error naming it and the allowed ids", () => {
    const attempt = () => selectDatabases(system, "typo");
    expect(attempt).toThrow(UnknownDatabaseError);
    expect(attempt).toThrow(UnknownNameError);
    expect(attempt).toThrow('system "partpal-ims": unknown database "typo"; known databases: main');
  });

  it("restricted to the databases a runbook applies to, the message says so", () => {
    expect(() => selectDatabases(system, "main", { among: [], amongLabel: "for an rds-pitr drill" })).toThrow(
      'system "partpal-ims": unknown database "main" for an rds-pitr drill; known databases: (none)',
    );
  });
});
