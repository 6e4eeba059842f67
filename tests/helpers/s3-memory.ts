import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";

/**
 * An S3 bucket held in a Map, behind aws-sdk-client-mock: ListObjectsV2 (prefix, continuation tokens,
 * `pageSize` keys a page), GetObject (NoSuchKey when absent, as S3 answers) and DeleteObjects, each
 * answering in the shape of the S3 API reference. What a runbook deleted is what is gone from `objects`.
 */
export function memoryBucket(options: { bucket: string; pageSize?: number }) {
  const objects = new Map<string, string>();
  const s3 = mockClient(S3Client);
  const pageSize = options.pageSize ?? 1000;
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string; ContinuationToken?: string }) => {
    const keys = [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? "")).sort();
    const start = input.ContinuationToken ? Number(input.ContinuationToken.slice(1)) : 0;
    const page = keys.slice(start, start + pageSize);
    const truncated = start + pageSize < keys.length;
    return {
      $metadata: { httpStatusCode: 200 },
      Name: options.bucket,
      Prefix: input.Prefix,
      KeyCount: page.length,
      MaxKeys: pageSize,
      IsTruncated: truncated,
      ...(input.ContinuationToken ? { ContinuationToken: input.ContinuationToken } : {}),
      ...(truncated ? { NextContinuationToken: `t${start + pageSize}` } : {}),
      Contents: page.map((Key) => ({
        Key,
        Size: Buffer.byteLength(objects.get(Key) ?? ""),
        LastModified: new Date("2026-11-21T00:00:00Z"),
        ETag: '"0123456789abcdef0123456789abcdef"',
        StorageClass: "STANDARD",
      })),
    };
  });
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (body === undefined) throw new NoSuchKey({ message: "The specified key does not exist.", $metadata: {} });
    // The SDK's streaming body; the code under test reads it with transformToString only.
    return { Body: { transformToString: async () => body } as never, ContentLength: Buffer.byteLength(body) };
  });
  s3.on(DeleteObjectsCommand).callsFake((input: { Delete: { Objects: { Key: string }[] } }) => {
    for (const o of input.Delete.Objects) objects.delete(o.Key);
    return { $metadata: { httpStatusCode: 200 }, Deleted: input.Delete.Objects.map((o) => ({ Key: o.Key })) };
  });
  return { s3, objects };
}

/** A manifest as `backup` writes it for the dump `key` of `bytes` bytes taken at `at`. */
export function manifestFor(options: {
  key: string;
  bytes: number;
  at: Date;
  system: string;
  database: string;
  bucket: string;
}): Record<string, unknown> {
  return {
    version: 1,
    system: options.system,
    database: options.database,
    databaseName: "partpal_ims",
    bucket: options.bucket,
    key: options.key,
    bytes: options.bytes,
    sha256: "a".repeat(64),
    format: "custom",
    compression: 1,
    serverVersion: "15.4",
    pgDumpVersion: "15.18",
    databaseBytes: 5000,
    startedAt: options.at.toISOString(),
    finishedAt: new Date(options.at.getTime() + 60_000).toISOString(),
    durationMs: 60_000,
    tables: [],
    encryption: "AES256",
  };
}
