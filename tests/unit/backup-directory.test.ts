import { DeleteObjectsCommand, type DeleteObjectsCommandInput, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { deleteBackups } from "../../lib/backup/delete-backups.js";
import { directoryDisagreements, filesDigest } from "../../runbooks/backup/directory.js";
import { dumpFormatOf } from "../../systems/dump-format.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { systemSchema } from "../../systems/schema.js";

const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: "us-east-1" });
const dir = "pg_dump/demo/inventory/2026/11/20/20261120T031500Z.dir";
const dump = "pg_dump/demo/inventory/2026/11/19/20261119T031500Z.dump";
const files = [`${dir}/3358.dat.gz`, `${dir}/3359.dat.gz`, `${dir}/toc.dat`];

const deleteCalls = () =>
  s3Mock
    .commandCalls(DeleteObjectsCommand)
    .map((c) => (c.args[0].input as DeleteObjectsCommandInput).Delete?.Objects?.map((o) => o.Key));

beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(DeleteObjectsCommand).resolves({ Deleted: [] });
});

describe("deleting a directory backup (lib/backup/delete-backups.ts)", () => {
  it("deletes its manifest first, then all its files, and reports it once; a custom dump goes with its manifest as before", async () => {
    const { outcomes, deleted } = await deleteBackups(s3, {
      bucket: "b",
      doomed: [
        { key: dump, manifestKey: `${dump}.manifest.json`, reasons: ["outside every retention period"] },
        { key: dir, manifestKey: `${dir}.manifest.json`, files, reasons: ["outside every retention period"] },
      ],
      danglingManifests: [],
    });
    expect(deleteCalls()).toEqual([[dump, `${dump}.manifest.json`, `${dir}.manifest.json`], files]);
    expect(outcomes.map((o) => [o.resource, o.status])).toEqual([
      [dump, "done"],
      [dir, "done"],
    ]);
    expect(deleted).toBe(2);
  });

  it("a manifest that cannot be deleted keeps the directory whole: no file is deleted, the failure is reported", async () => {
    s3Mock.on(DeleteObjectsCommand).resolves({
      Errors: [{ Key: `${dir}.manifest.json`, Code: "AccessDenied", Message: "Access Denied" }],
    });
    const { outcomes, deleted } = await deleteBackups(s3, {
      bucket: "b",
      doomed: [{ key: dir, manifestKey: `${dir}.manifest.json`, files, reasons: ["x"] }],
      danglingManifests: [],
    });
    expect(deleteCalls()).toEqual([[`${dir}.manifest.json`]]);
    expect(outcomes).toEqual([
      { resource: `${dir}.manifest.json`, status: "failed", reason: "AccessDenied: Access Denied" },
    ]);
    expect(deleted).toBe(0);
  });

  it("a file that cannot be deleted is reported by name, and the backup is not counted as deleted", async () => {
    s3Mock
      .on(DeleteObjectsCommand)
      .resolvesOnce({})
      .resolves({ Errors: [{ Key: files[1], Code: "InternalError", Message: "try again" }] });
    const { outcomes, deleted } = await deleteBackups(s3, {
      bucket: "b",
      doomed: [{ key: dir, manifestKey: `${dir}.manifest.json`, files, reasons: ["x"] }],
      danglingManifests: [],
    });
    expect(outcomes).toEqual([{ resource: files[1], status: "failed", reason: "InternalError: try again" }]);
    expect(deleted).toBe(0);
  });
});

describe("a directory backup's files against its manifest", () => {
  const listed = [
    { name: "3358.dat.gz", bytes: 10, sha256: "1".repeat(64) },
    { name: "toc.dat", bytes: 20, sha256: "2".repeat(64) },
  ];
  const manifest = { format: "directory" as const, files: listed, bytes: 30, sha256: filesDigest(listed) };
  const stored = listed.map((f) => ({ name: f.name, key: `${dir}/${f.name}`, bytes: f.bytes }));
  it("agrees when every file is there with its size", () => {
    expect(directoryDisagreements(manifest, stored)).toEqual([]);
  });
  it("names a missing file, a file of another size and a file it does not list", () => {
    expect(directoryDisagreements(manifest, stored.slice(1))).toEqual(["1 missing file (3358.dat.gz)"]);
    expect(
      directoryDisagreements(manifest, [{ ...stored[0], bytes: 11 } as (typeof stored)[0], ...stored.slice(1)]),
    ).toEqual(["file 3358.dat.gz of 10 bytes (the object has 11)"]);
    expect(directoryDisagreements(manifest, [...stored, { name: "9999.dat.gz", key: "k", bytes: 1 }])).toEqual([
      "no file 9999.dat.gz (found in the folder)",
    ]);
  });
  it("refuses a custom manifest for a directory and a directory manifest for one object", () => {
    expect(directoryDisagreements({ ...manifest, format: "custom" }, stored)).toEqual([
      'format "custom" (the backup is a directory)',
    ]);
    expect(directoryDisagreements(manifest, undefined)).toEqual(['format "directory" (the backup is one object)']);
  });
});

describe("catalogue: databases[].backup", () => {
  const demo = findSystem(builtinFleet(), "demo");
  const withBackup = (backup: unknown) =>
    systemSchema.safeParse({ ...demo, databases: demo.databases.map((d) => ({ ...d, backup })) });
  const messages = (backup: unknown) => {
    const parsed = withBackup(backup);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("defaults to custom with one worker; directory defaults to 2 workers", () => {
    const custom = withBackup(undefined);
    expect(custom.success && dumpFormatOf(custom.data.databases[0] ?? {})).toEqual({ format: "custom", jobs: 1 });
    const directory = withBackup({ format: "directory" });
    expect(directory.success && dumpFormatOf(directory.data.databases[0] ?? {})).toEqual({
      format: "directory",
      jobs: 2,
    });
    const four = withBackup({ format: "directory", jobs: 4 });
    expect(four.success && dumpFormatOf(four.data.databases[0] ?? {})).toEqual({ format: "directory", jobs: 4 });
  });

  it("refuses an unknown format, naming the allowed ones", () => {
    expect(messages({ format: "tar" })).toEqual(['databases.0.backup.format: must be one of "custom", "directory"']);
  });

  it("refuses jobs out of bounds or not whole, naming the range", () => {
    for (const jobs of [0, 17, 2.5, "4"]) {
      expect(messages({ format: "directory", jobs }), String(jobs)).toEqual([
        "databases.0.backup.jobs: must be a whole number of pg_dump workers from 1 to 16 (default 2)",
      ]);
    }
  });

  it("refuses jobs with the custom format, and unknown keys", () => {
    expect(messages({ format: "custom", jobs: 2 })[0]).toMatch(
      /^databases\.0\.backup\.jobs: jobs applies to format "directory" only/,
    );
    expect(messages({ format: "directory", workers: 2 })[0]).toMatch(/workers/);
  });
});
