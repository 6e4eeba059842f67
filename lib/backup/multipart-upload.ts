import { constants } from "node:buffer";
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import zlib from "node:zlib";
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { RunbookError, ValidationError } from "../errors.js";
import { serverSideEncryption } from "./encryption.js";

/** Options of {@link MultipartUploadStream}. */
export interface MultipartUploadOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  /** SSE-KMS with this key when set, else SSE-S3. */
  kmsKeyId?: string;
  /** Bytes per part (S3 allows 5 MiB – 5 GiB; the last part may be smaller). Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once. Memory is (queueSize + 1) × partSizeBytes, allocated once. Default 4. */
  queueSize?: number;
  /** Called with the running byte count as bytes arrive. */
  onBytes?: (bytes: number) => void;
}

/**
 * The upload failed and so did aborting it: its parts stay in the bucket (invisible, but billed) until
 * the bucket's lifecycle rule removes them (see `bucket-lifecycle.ts`).
 */
export class IncompleteUploadError extends RunbookError {
  readonly bucket: string;
  readonly key: string;

  constructor(message: string, where: { bucket: string; key: string }, options: { cause: unknown }) {
    super(message, options);
    this.bucket = where.bucket;
    this.key = where.key;
  }
}

const MIN_PART = 5 * 1024 * 1024;
// S3 takes parts up to 5 GiB; a Node buffer may be smaller than that.
const MAX_PART = Math.min(5 * 1024 * 1024 * 1024, constants.MAX_LENGTH);
const MAX_PARTS = 10_000;
/** Native CRC32 (zlib's; Node ≥ 20.15 and 22): absent, the SDK computes each part's CRC32 itself. */
const crc32: ((data: Uint8Array, value?: number) => number) | undefined =
  typeof zlib.crc32 === "function" ? zlib.crc32 : undefined;

/**
 * A writable stream that becomes one S3 object through a multipart upload, hashing (sha256) and counting
 * the bytes as they pass.
 *
 * Why not `@aws-sdk/lib-storage`: it assembles every part into a fresh buffer (garbage that grows the
 * process as the dump grows) and lets the signer hash each part a second time. Here a fixed pool of
 * part buffers is reused, so memory is flat in the object's size, and parts are sent with
 * `UNSIGNED-PAYLOAD` and a CRC32 header instead (one pass at ~1 GB/s, where the signer's sha256 runs at
 * ~0.4 GB/s on these machines): S3 checks each part's CRC32 on arrival, and the sha256 that goes into
 * the manifest, which every restore checks, covers the whole dump end to end.
 *
 * The CRC32 is computed here, chunk by chunk from pg_dump's own buffers while they are still in cache
 * (right after sha256 read them), and handed to the SDK as `ChecksumCRC32`, so its checksum middleware
 * sees the header and does not make a second, cold pass over every 8 MiB part (bench/backup measured
 * that pass as the pipeline's largest single cost). Computed from the source bytes, it also covers the
 * copy into the part buffer: a part S3 accepts holds exactly the bytes pg_dump wrote.
 *
 * The object only exists once `end()` is called and every part is in: a stream that is destroyed (or
 * whose part fails) aborts the multipart upload after its parts in flight have settled, so no part is
 * left behind to be billed.
 */
export class MultipartUploadStream extends Writable {
  readonly hash = createHash("sha256");
  bytes = 0;
  private readonly options: MultipartUploadOptions;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly poolSize: number;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private current: Buffer | undefined;
  private filled = 0;
  /** CRC32 of the bytes of the current part so far. */
  private crc = 0;
  private partNumber = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private uploadId: Promise<string> | undefined;
  /** The write that waits for a free buffer, resumed when a part finishes. */
  private resume: (() => void) | undefined;
  private failure: unknown;
  /** CompleteMultipartUpload once sent: past it, the object may exist and is never aborted. */
  private completing: Promise<unknown> | undefined;
  private completed = false;

  constructor(options: MultipartUploadOptions) {
    super({ highWaterMark: 1 << 20 });
    const partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    const queueSize = options.queueSize ?? 4;
    if (!Number.isInteger(partSize) || partSize < MIN_PART || partSize > MAX_PART) {
      throw new ValidationError(
        `partSizeBytes ${partSize} is not allowed: a whole number from ${MIN_PART} (5 MiB) to ${MAX_PART}`,
      );
    }
    if (!Number.isInteger(queueSize) || queueSize < 1 || queueSize > 64) {
      throw new ValidationError(`queueSize ${queueSize} is not allowed: a whole number from 1 to 64`);
    }
    this.options = options;
    this.partSize = partSize;
    this.queueSize = queueSize;
    this.poolSize = queueSize + 1;
  }

  /** Part buffers allocated so far: never more than queueSize + 1, whatever the object's size. */
  get buffersAllocated(): number {
    return this.allocated;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.options.onBytes?.(this.bytes);
    this.copyFrom(chunk, 0, callback);
  }

  /**
   * Copies `chunk` from `start` into part buffers, sending each part as it fills; when a full part has no
   * slot or no buffer is free, it parks itself in `resume`, which a finished part calls.
   */
  private copyFrom(chunk: Buffer, start: number, callback: (error?: Error | null) => void): void {
    let offset = start;
    for (;;) {
      if (this.failure) {
        callback(asError(this.failure));
        return;
      }
      if (!this.sendIfFull() || (offset < chunk.length && !this.ensureBuffer())) {
        this.resume = () => this.copyFrom(chunk, offset, callback);
        return;
      }
      if (offset >= chunk.length) {
        callback();
        return;
      }
      offset += this.fill(chunk, offset);
    }
  }

  /** Sends the current part if it is full; false when it must wait for a slot (at most queueSize on the wire). */
  private sendIfFull(): boolean {
    if (!this.current || this.filled < this.partSize) return true;
    if (this.inFlight.size >= this.queueSize) return false;
    this.sendCurrent();
    return true;
  }

  /** A part buffer to fill: the current one, or a free one; false when every buffer is on the wire. */
  private ensureBuffer(): boolean {
    if (this.current) return true;
    const buffer = this.takeBuffer();
    if (!buffer) return false;
    this.current = buffer;
    this.filled = 0;
    this.crc = 0;
    return true;
  }

  /** Copies what fits of `chunk` from `offset` into the current part, CRC32 from the source bytes; returns how much. */
  private fill(chunk: Buffer, offset: number): number {
    if (!this.current) return 0;
    const copied = chunk.copy(this.current, this.filled, offset);
    if (crc32) this.crc = crc32(copied === chunk.length ? chunk : chunk.subarray(offset, offset + copied), this.crc);
    this.filled += copied;
    return copied;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(
      () => callback(),
      (error: unknown) => callback(asError(error)),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.completed) {
      callback(error);
      return;
    }
    this.failure ??= error ?? new Error("upload destroyed before it completed");
    // A write waiting for a free part buffer gets its callback (with the error) instead of hanging.
    this.wake();
    if (!this.uploadId) {
      callback(error);
      return;
    }
    const reason = asError(this.failure);
    this.abortUnlessCompleted().then(
      () => callback(error),
      (abortError: unknown) =>
        callback(
          new IncompleteUploadError(`${reason.message}; aborting the upload failed too`, this.options, {
            cause: abortError,
          }),
        ),
    );
  }

  private takeBuffer(): Buffer | undefined {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    if (this.allocated >= this.poolSize) return undefined;
    this.allocated++;
    // Not from Node's shared pool: these live for the whole upload and are reused part after part.
    return Buffer.allocUnsafeSlow(this.partSize);
  }

  private sendCurrent(): void {
    const buffer = this.current;
    if (!buffer) return;
    const size = this.filled;
    const crc = crc32 ? this.crc : undefined;
    this.current = undefined;
    this.filled = 0;
    this.crc = 0;
    const partNumber = ++this.partNumber;
    if (partNumber > MAX_PARTS) {
      this.fail(new Error(`more than ${MAX_PARTS} parts of ${this.partSize} bytes: raise partSizeBytes`));
      return;
    }
    const task = this.uploadPart(partNumber, buffer.subarray(0, size), crc).then(
      (part) => {
        this.parts.push(part);
        this.free.push(buffer);
        this.inFlight.delete(task);
        this.wake();
      },
      (error: unknown) => {
        this.inFlight.delete(task);
        this.fail(error);
      },
    );
    this.inFlight.add(task);
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error;
    // A waiting write ends with the error (and the stream with it); otherwise destroy it here.
    if (!this.wake()) this.destroy(asError(error));
  }

  /** Resumes the write waiting for a slot or a buffer, if there is one; says whether there was. */
  private wake(): boolean {
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
    return resume !== undefined;
  }

  private startUpload(): Promise<string> {
    this.uploadId ??= this.options.s3
      .send(
        new CreateMultipartUploadCommand({
          Bucket: this.options.bucket,
          Key: this.options.key,
          ContentType: "application/octet-stream",
          // Every part carries its CRC32 and S3 checks it on arrival, whatever the client's default.
          ChecksumAlgorithm: "CRC32",
          ...serverSideEncryption(this.options.kmsKeyId),
        }),
      )
      .then((created) => {
        if (!created.UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
        return created.UploadId;
      });
    return this.uploadId;
  }

  private async uploadPart(partNumber: number, body: Buffer, crc: number | undefined): Promise<CompletedPart> {
    const uploadId = await this.startUpload();
    const command = new UploadPartCommand({
      Bucket: this.options.bucket,
      Key: this.options.key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
      ChecksumAlgorithm: "CRC32",
      ...(crc === undefined ? {} : { ChecksumCRC32: crc32Base64(crc) }),
    });
    // The signer would otherwise hash every part (a second sha256 pass over the whole dump).
    command.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
        return next(args);
      },
      { step: "build", name: "opsUnsignedPayload" },
    );
    // Not cancelled on failure: a part still on the wire could land after the abort and stay billed, so
    // the abort waits for every part to settle instead (at most queueSize parts, seconds).
    const uploaded = await this.options.s3.send(command);
    if (!uploaded.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
    return {
      PartNumber: partNumber,
      ETag: uploaded.ETag,
      ...(uploaded.ChecksumCRC32 ? { ChecksumCRC32: uploaded.ChecksumCRC32 } : {}),
    };
  }

  private async finish(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.bytes === 0) throw new ValidationError("nothing was written: an empty stream is not uploaded");
    if (this.current && this.filled > 0) {
      while (this.inFlight.size >= this.queueSize) await Promise.race(this.inFlight);
      if (this.failure) throw this.failure;
      this.sendCurrent();
    }
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
    const uploadId = await this.startUpload();
    this.completing = this.options.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.options.bucket,
        Key: this.options.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0)) },
      }),
    );
    await this.completing;
    this.completed = true;
  }

  private async abortUnlessCompleted(): Promise<void> {
    if (this.completing) {
      // Destroyed while completing: if Complete went through, the object exists and there is nothing
      // left to abort (the caller still gets the error, and writes no manifest).
      const done = await this.completing.then(
        () => true,
        () => false,
      );
      if (done) return;
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    const uploadId = await this.uploadId?.catch(() => undefined);
    if (!uploadId) return;
    await this.options.s3.send(
      new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.options.key, UploadId: uploadId }),
    );
  }
}

/** A CRC32 as S3 writes it: the four bytes, big-endian, in base64. */
function crc32Base64(crc: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc >>> 0);
  return bytes.toString("base64");
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
