import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MultipartUploadStream } from "../../lib/backup/multipart-upload.js";
import { type LocalS3, startLocalS3 } from "../../lib/local/s3.js";

const BUCKET = "ops-autopilot-demo";
const MiB = 1024 * 1024;
let dir: string;
let server: LocalS3;
let s3: S3Client;
/** x-amz-content-sha256 and x-amz-checksum-crc32 of every UploadPart request as signed and sent. */
const payloadHashes: string[] = [];
const partChecksums: string[] = [];
/** Every command sent. */
const sent: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ops-mpu-"));
  server = await startLocalS3({ directory: dir, buckets: [BUCKET] });
  s3 = server.client();
  // Last in the finalize step, after the signer: the header as it goes over the wire.
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers: Record<string, string> };
      sent.push(context.commandName ?? "");
      if (context.commandName === "UploadPartCommand") {
        payloadHashes.push(request.headers["x-amz-content-sha256"] ?? "");
        partChecksums.push(request.headers["x-amz-checksum-crc32"] ?? "");
      }
      return next(args);
    },
    { step: "finalizeRequest", priority: "low", name: "recordPayloadHash" },
  );
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

it("a stream in uneven chunks becomes one object with the same bytes, parts sent unsigned", async () => {
  const data = randomBytes(17 * MiB + 333);
  const chunks = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = [8_192, 65_536, 6 * MiB, 1][i % 4] ?? 1;
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  const key = "pg_dump/demo/inventory/2026/11/21/20261121T030000Z.dump";
  const upload = new MultipartUploadStream({ s3, bucket: BUCKET, key, partSizeBytes: 5 * MiB, queueSize: 2 });
  await pipeline(Readable.from(chunks), upload);

  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const stored = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
  expect(stored.length).toBe(data.length);
  expect(createHash("sha256").update(stored).digest("hex")).toBe(upload.hash.digest("hex"));
  expect(stored.equals(data)).toBe(true);
  // Four parts, none hashed a second time by the signer.
  expect(payloadHashes).toEqual(["UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD"]);
  // Each part's CRC32 in a header (even with WHEN_REQUIRED, as the local stack sets), for S3 to check.
  const crc32 = (part: Buffer) => Buffer.from(zlib.crc32(part).toString(16).padStart(8, "0"), "hex").toString("base64");
  expect(partChecksums).toEqual(
    [0, 1, 2, 3].map((i) => crc32(data.subarray(i * 5 * MiB, Math.min((i + 1) * 5 * MiB, data.length)))),
  );
});

it("a stream destroyed part-way asks for an abort and leaves no object behind", async () => {
  sent.length = 0;
  const key = "pg_dump/demo/inventory/2026/11/21/20261121T040000Z.dump";
  const upload = new MultipartUploadStream({ s3, bucket: BUCKET, key, partSizeBytes: 5 * MiB });
  const closed = new Promise((resolve) => upload.once("close", resolve));
  upload.on("error", () => {});
  upload.write(randomBytes(11 * MiB));
  await new Promise((resolve) => setTimeout(resolve, 200));
  upload.destroy(new Error("pg_dump exited with code 1"));
  await closed;
  // s3rver 3.7 answers AbortMultipartUpload with MethodNotAllowed (the stream then says so); S3 removes
  // the parts. What is checked here is that the abort is asked for, after the part, and nothing completes.
  // 11 MiB written: two full 5 MiB parts went; the last MiB never does.
  expect(sent).toEqual([
    "CreateMultipartUploadCommand",
    "UploadPartCommand",
    "UploadPartCommand",
    "AbortMultipartUploadCommand",
  ]);
  await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({
    name: "NotFound",
  });
});
