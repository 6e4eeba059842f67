import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { MultipartUploadStream } from "../../lib/backup/multipart-upload.js";
import { ValidationError } from "../../lib/errors.js";

const MiB = 1024 * 1024;
const s3Mock = mockClient(S3Client);
const s3 = new S3Client({ region: "us-east-1" });
const target = { s3, bucket: "ops-autopilot-demo", key: "pg_dump/demo/inventory/x.dump" };

/** Chunks of uneven sizes (like pg_dump's writes), some larger than a part. */
function* chunksOf(data: Buffer): Generator<Buffer> {
  const sizes = [10_000, 65_536, 7 * MiB, 123, 3 * MiB + 17];
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

/** What was sent to S3, in order, with the parts' bodies. */
function sentCalls() {
  return s3Mock.calls().map((call) => call.args[0].constructor.name);
}

beforeEach(() => {
  s3Mock.reset();
  s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: "upload-1" });
  s3Mock.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({ ETag: `"etag-${input.PartNumber}"` }));
  s3Mock.on(CompleteMultipartUploadCommand).resolves({ ETag: '"final"' });
  s3Mock.on(AbortMultipartUploadCommand).resolves({});
});

describe("MultipartUploadStream", () => {
  it("cuts the stream into fixed parts, sends them in order and completes with every part", async () => {
    const data = randomBytes(23 * MiB + 5);
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB, queueSize: 2 });
    await pipeline(Readable.from(chunksOf(data)), upload);

    expect(upload.bytes).toBe(data.length);
    expect(upload.hash.digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    const parts = s3Mock.commandCalls(UploadPartCommand).map((c) => c.args[0].input);
    expect(parts.map((p) => p.PartNumber)).toEqual([1, 2, 3, 4, 5]);
    expect(parts.map((p) => (p.Body as Buffer).length)).toEqual([5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 3 * MiB + 5]);
    expect(parts.every((p) => p.UploadId === "upload-1" && p.ChecksumAlgorithm === "CRC32")).toBe(true);
    // Each part's CRC32, computed from the chunks (which straddle parts) as they passed, for S3 to check.
    const crc32 = (part: Buffer) => {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(zlib.crc32(part));
      return bytes.toString("base64");
    };
    expect(parts.map((p) => p.ChecksumCRC32)).toEqual(
      [0, 1, 2, 3, 4].map((i) => crc32(data.subarray(i * 5 * MiB, (i + 1) * 5 * MiB))),
    );
    const complete = s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input;
    expect(complete?.MultipartUpload?.Parts).toEqual(
      [1, 2, 3, 4, 5].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"` })),
    );
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      Bucket: target.bucket,
      Key: target.key,
      ServerSideEncryption: "AES256",
      ChecksumAlgorithm: "CRC32",
    });
    expect(sentCalls()).not.toContain("AbortMultipartUploadCommand");
  });

  it("passes each part's CRC32, as S3 returned it, into CompleteMultipartUpload", async () => {
    s3Mock.on(UploadPartCommand).callsFake((input: { PartNumber: number }) => ({
      ETag: `"etag-${input.PartNumber}"`,
      ChecksumCRC32: `crc-${input.PartNumber}==`,
    }));
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB });
    await pipeline(Readable.from([randomBytes(6 * MiB)]), upload);
    expect(s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.MultipartUpload?.Parts).toEqual([
      { PartNumber: 1, ETag: '"etag-1"', ChecksumCRC32: "crc-1==" },
      { PartNumber: 2, ETag: '"etag-2"', ChecksumCRC32: "crc-2==" },
    ]);
  });

  it("asks for SSE-KMS with the configured key", async () => {
    const upload = new MultipartUploadStream({ ...target, kmsKeyId: "alias/backups" });
    await pipeline(Readable.from([Buffer.from("PGDMP")]), upload);
    expect(s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
      ServerSideEncryption: "aws:kms",
      SSEKMSKeyId: "alias/backups",
    });
  });

  it("keeps at most queueSize parts in flight and queueSize + 1 buffers, however large the stream", async () => {
    let inFlight = 0;
    let most = 0;
    s3Mock.on(UploadPartCommand).callsFake(async (input: { PartNumber: number }) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return { ETag: `"etag-${input.PartNumber}"` };
    });
    const data = randomBytes(6 * MiB);
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB, queueSize: 3 });
    // 60 MiB from the same 6 MiB block: enough parts for the queue to fill many times over.
    await pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < 10; i++) yield* chunksOf(data);
        })(),
      ),
      upload,
    );
    expect(s3Mock.commandCalls(UploadPartCommand)).toHaveLength(12);
    expect(most).toBe(3);
    expect(upload.buffersAllocated).toBe(4);
  });

  it("a failed part aborts the upload after the parts in flight settle, and never completes", async () => {
    const order: string[] = [];
    s3Mock.on(UploadPartCommand).callsFake(async (input: { PartNumber: number }) => {
      await new Promise((resolve) => setTimeout(resolve, input.PartNumber === 2 ? 1 : 20));
      order.push(`part ${input.PartNumber}`);
      if (input.PartNumber === 2) throw new Error("SlowDown: reduce your request rate");
      return { ETag: `"etag-${input.PartNumber}"` };
    });
    s3Mock.on(AbortMultipartUploadCommand).callsFake(() => {
      order.push("abort");
      return {};
    });
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB, queueSize: 4 });
    await expect(pipeline(Readable.from(chunksOf(randomBytes(30 * MiB))), upload)).rejects.toThrow(/SlowDown/);
    expect(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input).toEqual({
      Bucket: target.bucket,
      Key: target.key,
      UploadId: "upload-1",
    });
    expect(order.at(-1)).toBe("abort");
    expect(sentCalls()).not.toContain("CompleteMultipartUploadCommand");
  });

  it("destroyed mid-stream (pg_dump died): aborted, not completed", async () => {
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB });
    upload.write(randomBytes(6 * MiB));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const failed = new Promise<Error>((resolve) => upload.once("error", resolve));
    const closed = new Promise((resolve) => upload.once("close", resolve));
    upload.destroy(new Error("pg_dump was killed by SIGKILL"));
    expect((await failed).message).toMatch(/SIGKILL/);
    await closed;
    expect(sentCalls()).toEqual(["CreateMultipartUploadCommand", "UploadPartCommand", "AbortMultipartUploadCommand"]);
  });

  it("a failed abort is reported beside the original error", async () => {
    s3Mock.on(AbortMultipartUploadCommand).rejects(new Error("AccessDenied"));
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB });
    upload.write(randomBytes(6 * MiB));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const failed = new Promise<Error>((resolve) => upload.once("error", resolve));
    upload.destroy(new Error("pg_dump exited with code 1"));
    const error = await failed;
    expect(error.message).toBe("pg_dump exited with code 1; aborting the upload failed too");
    expect((error.cause as Error).message).toBe("AccessDenied");
  });

  it("destroyed while CompleteMultipartUpload is on the wire: never aborted, the object stands", async () => {
    s3Mock.on(CompleteMultipartUploadCommand).callsFake(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return { ETag: '"final"' };
    });
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB });
    const closed = new Promise((resolve) => upload.once("close", resolve));
    upload.on("error", () => {});
    upload.end(randomBytes(6 * MiB));
    while (s3Mock.commandCalls(CompleteMultipartUploadCommand).length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    upload.destroy(new Error("deadline"));
    await closed;
    expect(sentCalls()).not.toContain("AbortMultipartUploadCommand");
  });

  it("a CompleteMultipartUpload that fails is followed by an abort", async () => {
    s3Mock.on(CompleteMultipartUploadCommand).rejects(new Error("InvalidPart"));
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB });
    await expect(pipeline(Readable.from([randomBytes(6 * MiB)]), upload)).rejects.toThrow(/InvalidPart/);
    expect(sentCalls().at(-1)).toBe("AbortMultipartUploadCommand");
  });

  it("a write waiting for a free buffer gets the error when the stream is destroyed, instead of hanging", async () => {
    s3Mock.on(UploadPartCommand).callsFake(async (input: { PartNumber: number }) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { ETag: `"etag-${input.PartNumber}"` };
    });
    const upload = new MultipartUploadStream({ ...target, partSizeBytes: 5 * MiB, queueSize: 1 });
    upload.on("error", () => {});
    // One part on the wire, one full part waiting for the slot: this write cannot finish yet.
    const written = new Promise<Error | null | undefined>((resolve) => upload.write(randomBytes(11 * MiB), resolve));
    await new Promise((resolve) => setTimeout(resolve, 5));
    upload.destroy(new Error("pg_dump exited with code 1"));
    expect((await written)?.message).toMatch(/pg_dump exited with code 1/);
  });

  it("an empty stream is an error and sends nothing", async () => {
    const upload = new MultipartUploadStream(target);
    await expect(pipeline(Readable.from([]), upload)).rejects.toThrow(/nothing was written/);
    expect(sentCalls()).toEqual([]);
  });

  it("rejects part sizes and queue depths S3 or memory cannot take, naming what is allowed", () => {
    expect(() => new MultipartUploadStream({ ...target, partSizeBytes: MiB })).toThrow(ValidationError);
    expect(() => new MultipartUploadStream({ ...target, partSizeBytes: MiB })).toThrow(
      /partSizeBytes 1048576 is not allowed: a whole number from 5242880 \(5 MiB\) to \d+/,
    );
    expect(() => new MultipartUploadStream({ ...target, queueSize: 0 })).toThrow(
      /queueSize 0 is not allowed: a whole number from 1 to 64/,
    );
  });
});
