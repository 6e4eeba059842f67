import { createHash } from "node:crypto";
import type { AwsFetchClient } from "../aws/fetch-client.js";
import { MAX_SKEW_SECONDS } from "./verify.js";

/**
 * Refuses a signed Slack request seen before. A signature is valid for {@link MAX_SKEW_SECONDS} either
 * side of its timestamp, so a seen-signature only has to be remembered for that window.
 *
 * Why S3 and not only memory: Lambda runs many containers at once, and a captured request replayed
 * within the window can land on a container that never saw it, so a per-container LRU alone does not
 * refuse it. A conditional create (`If-None-Match: *`) of one object per signature is atomic across
 * containers: the second create answers 412. The in-memory LRU in front answers a replay to the same
 * warm container without a round trip; a lifecycle rule removes the objects after a day.
 */
export interface ReplayGuard {
  /** True the first time this signature is seen; false for every later time. */
  firstSeen(signature: string, timestamp: number): Promise<boolean>;
}

/** Per-container memory of recent signatures, oldest dropped first past `capacity`. */
export function memoryReplayGuard(options: { now: () => Date; capacity?: number }): ReplayGuard {
  const capacity = options.capacity ?? 10_000;
  const seen = new Map<string, number>();
  return {
    async firstSeen(signature, timestamp) {
      const cutoff = options.now().getTime() / 1000 - 2 * MAX_SKEW_SECONDS;
      for (const [key, ts] of seen) {
        if (ts >= cutoff && seen.size < capacity) break;
        seen.delete(key);
      }
      if (seen.has(signature)) return false;
      seen.set(signature, timestamp);
      return true;
    },
  };
}

/** Options of {@link s3ReplayGuard}. */
export interface S3ReplayOptions {
  /** The command function's S3 (lib/aws/fetch-client.ts): a refused create (412/409) means "seen". */
  s3: Pick<AwsFetchClient, "putObject">;
  bucket: string;
  /** Key prefix of the seen-signature objects (`slack/seen`). */
  prefix: string;
  /** Checked first; the S3 guard only sees what memory has not. */
  memory?: ReplayGuard;
}

/** Seen-signatures as S3 objects created only if absent (see {@link ReplayGuard}). */
export function s3ReplayGuard(options: S3ReplayOptions): ReplayGuard {
  return {
    async firstSeen(signature, timestamp) {
      if (options.memory && !(await options.memory.firstSeen(signature, timestamp))) return false;
      // The signature is a MAC, not a secret, but hashing keeps keys short and of one alphabet.
      const digest = createHash("sha256").update(signature).digest("hex");
      const put = await options.s3.putObject({
        bucket: options.bucket,
        key: `${options.prefix}/${digest}`,
        body: String(timestamp),
        ifNoneMatch: "*",
      });
      return put.written;
    },
  };
}
