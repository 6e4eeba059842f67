import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { z } from "zod";

/**
 * Which run is doing a piece of work right now (a database's backup, its restore drill): an S3 object
 * created only if absent, holding the run's id and a lease.
 *
 * Why: schedules and retries deliver an event at least once, and two copies seconds apart would both
 * find nothing in progress and both start (two dumps of the production database, two scratch RDS
 * instances). The copy that loses the conditional create is told who holds the claim. A claim left by a
 * run that died expires with its lease and is taken over, conditionally on its ETag, so two runs cannot
 * both take over the same stale claim.
 */
export const claimSchema = z.object({
  /** The run holding the claim (a random id per run). */
  holder: z.string().min(1),
  startedAt: z.string(),
  /** After this the claim is stale: its run is past any deadline it had. */
  expiresAt: z.string(),
});

/** What a claim object holds. */
export type Claim = z.infer<typeof claimSchema>;

/** Options of {@link claimObject}. */
export interface ClaimOptions {
  s3: S3Client;
  bucket: string;
  /** The claim object's key. */
  key: string;
  holder: string;
  now: Date;
  /** How long the claim holds without being released: longer than the run can take. */
  leaseMs: number;
  /** SSE-KMS with this key when set, else SSE-S3, like the objects beside it. */
  kmsKeyId?: string;
}

/** The claim is ours (`release` it when done), or another run's, still valid. */
export type ClaimResult = { claimed: true; takenOver?: Claim } | { claimed: false; heldBy: Claim };

const CONFLICT = new Set(["PreconditionFailed", "ConditionalRequestConflict"]);
const errorName = (error: unknown) => (error as { name?: string } | undefined)?.name ?? "";

/** Takes the claim, or says who holds it. */
export async function claimObject(options: ClaimOptions): Promise<ClaimResult> {
  const claim: Claim = {
    holder: options.holder,
    startedAt: options.now.toISOString(),
    expiresAt: new Date(options.now.getTime() + options.leaseMs).toISOString(),
  };
  // A refused create whose claim is gone by the time we read it (released in between) gets one more try.
  for (let attempt = 1; ; attempt++) {
    try {
      await putClaim(options, claim, { IfNoneMatch: "*" });
      return { claimed: true };
    } catch (error) {
      if (!CONFLICT.has(errorName(error))) throw error;
    }
    const current = await readClaim(options.s3, options.bucket, options.key);
    if (!current) {
      if (attempt < 2) continue;
      throw new Error(`could not create ${options.key}: S3 refused it as existing, and it is not there`);
    }
    // The SDK may have retried our own create after its response was lost: then the claim is ours.
    if (current.claim?.holder === options.holder) return { claimed: true };
    if (current.claim && new Date(current.claim.expiresAt).getTime() > options.now.getTime()) {
      return { claimed: false, heldBy: current.claim };
    }
    // Stale (or unreadable): take it over, but only if nobody changed it since we read it.
    try {
      await putClaim(options, claim, current.etag ? { IfMatch: current.etag } : { IfNoneMatch: "*" });
    } catch (error) {
      if (!CONFLICT.has(errorName(error))) throw error;
      const winner = await readClaim(options.s3, options.bucket, options.key);
      if (winner?.claim?.holder === options.holder) return { claimed: true };
      if (winner?.claim) return { claimed: false, heldBy: winner.claim };
      throw error;
    }
    return current.claim ? { claimed: true, takenOver: current.claim } : { claimed: true };
  }
}

/** Reads the claim, if any: undefined when absent, `claim` undefined when it does not parse. */
export async function readClaim(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ claim?: Claim; etag?: string } | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = (await object.Body?.transformToString("utf8")) ?? "";
    let parsed: ReturnType<typeof claimSchema.safeParse> | undefined;
    try {
      parsed = claimSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    return {
      ...(parsed?.success ? { claim: parsed.data } : {}),
      ...(object.ETag ? { etag: object.ETag } : {}),
    };
  } catch (error) {
    if (errorName(error) === "NoSuchKey" || errorName(error) === "NotFound") return undefined;
    throw error;
  }
}

/**
 * Removes the claim if it is still this run's: a run that outlived its lease must not remove the claim
 * of the run that took over.
 */
export async function releaseClaim(options: Pick<ClaimOptions, "s3" | "bucket" | "key" | "holder">): Promise<void> {
  const current = await readClaim(options.s3, options.bucket, options.key);
  if (current?.claim?.holder !== options.holder) return;
  await options.s3.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: options.key }));
}

function putClaim(
  options: ClaimOptions,
  claim: Claim,
  condition: Pick<PutObjectCommandInput, "IfMatch" | "IfNoneMatch">,
): Promise<unknown> {
  return options.s3.send(
    new PutObjectCommand({
      Bucket: options.bucket,
      Key: options.key,
      Body: JSON.stringify(claim),
      ContentType: "application/json",
      ...condition,
      ...(options.kmsKeyId
        ? { ServerSideEncryption: "aws:kms", SSEKMSKeyId: options.kmsKeyId }
        : { ServerSideEncryption: "AES256" }),
    }),
  );
}
