import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/**
 * A pass-through stream that hashes (sha256) and counts the bytes that pass, so a backup's manifest
 * describes exactly what was uploaded and a restore checks exactly what it read.
 */
export class HashingStream extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    callback(null, chunk);
  }
}
