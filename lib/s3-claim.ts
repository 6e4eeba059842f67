import { DeleteObjectCommand, PutObjectCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import { serverSideEncryption } from "./backup/encryption.js";
import { errorName } from "./errors.js";
import { getObjectIfPresent } from "./s3-object.js";

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
  /** The attempt holding the claim (a random id per attempt). */
  holder: z.string().min(1),
  /** The invocation's id (Lambda's request id), which Lambda's own retries of an event share. */
  runId: z.string().optional(),
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
  /** Lambda's request id: a claim of the same id, old enough to be a retry's first attempt, is ours. */
  runId?: string;
  now: Date;
  /** How long the claim holds without being released: longer than the run can take. */
  leaseMs: number;
  /** SSE-KMS with this key when set, else SSE-S3, like the objects beside it. */
  kmsKeyId?: string;
}

/**
 * The claim is ours (with the ETag of our version, for {@link renewClaim} and {@link releaseClaim}), or
 * another run's, still valid.
 */
export type ClaimResult = { claimed: true; etag?: string; takenOver?: Claim } | { claimed: false; heldBy: Claim };

/** 412: the condition failed; 409: another conditional write or delete of the key was in flight. */
const CONFLICT = new Set(["PreconditionFailed", "ConditionalRequestConflict"]);
/** A conditional write to a key deleted meanwhile answers 404. */
const GONE = new Set(["NoSuchKey", "NotFound"]);
const ATTEMPTS = 4;
/**
 * Lambda retries a failed asynchronous event a minute or more after the failed attempt ended, with the
 * same request id. A claim of our request id started longer ago than this is that dead attempt's; a
 * younger one is a duplicate delivery of the event, running right now.
 */
const RETRY_AFTER_MS = 60_000;

/** A conditional write refused: the object exists, or changed since it was read (412), or races (409). */
export function isWriteConflict(error: unknown): boolean {
  return CONFLICT.has(errorName(error));
}

/** A conditional write or delete refused (412, 409) or aimed at a key deleted meanwhile (404). */
export function isConditionFailure(error: unknown): boolean {
  return isWriteConflict(error) || GONE.has(errorName(error));
}

/** A claim whose lease has not run out. */
export function isLive(claim: Claim, now: Date): boolean {
  return new Date(claim.expiresAt).getTime() > now.getTime();
}

const isOurDeadAttempt = (claim: Claim, options: Pick<ClaimOptions, "runId" | "now">) =>
  options.runId !== undefined &&
  claim.runId === options.runId &&
  new Date(claim.startedAt).getTime() <= options.now.getTime() - RETRY_AFTER_MS;

/** Takes the claim, or says who holds it. */
export async function claimObject(options: ClaimOptions): Promise<ClaimResult> {
  const claim = leaseFrom(options, options.now, options.now, options.leaseMs);
  // Every conflict is re-read and decided again: the claim was released, replaced or taken over meanwhile.
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const result = await claimAttempt(options, claim);
    if (result) return result;
  }
  const last = await readClaim(options.s3, options.bucket, options.key);
  if (last?.claim && isLive(last.claim, options.now) && last.claim.holder !== options.holder) {
    return { claimed: false, heldBy: last.claim };
  }
  throw new Error(`could not claim s3://${options.bucket}/${options.key}: ${ATTEMPTS} conditional writes conflicted`);
}

type ReadClaim = NonNullable<Awaited<ReturnType<typeof readClaim>>>;

/** One try: create the claim, else decide on the one found; undefined when a race means trying again. */
async function claimAttempt(options: ClaimOptions, claim: Claim): Promise<ClaimResult | undefined> {
  const created = await createClaim(options, claim);
  if (created) return created;
  const current = await readClaim(options.s3, options.bucket, options.key);
  if (!current) return undefined;
  return existingClaimResult(options, current) ?? (await takeOverClaim(options, claim, current));
}

/** The conditional create; undefined when the object already exists (or a write of it is in flight). */
async function createClaim(options: ClaimOptions, claim: Claim): Promise<ClaimResult | undefined> {
  try {
    return { claimed: true, ...etagOf(await putClaim(options, claim, { IfNoneMatch: "*" })) };
  } catch (error) {
    if (!isWriteConflict(error)) throw error;
    return undefined;
  }
}

/** The claim found is ours, or another run's still live; undefined when it is ours to take over. */
function existingClaimResult(options: ClaimOptions, current: ReadClaim): ClaimResult | undefined {
  // The SDK may have retried our own create after its response was lost: the claim is ours.
  if (current.claim?.holder === options.holder) {
    return { claimed: true, ...(current.etag ? { etag: current.etag } : {}) };
  }
  if (current.claim && isLive(current.claim, options.now) && !isOurDeadAttempt(current.claim, options)) {
    return { claimed: false, heldBy: current.claim };
  }
  return undefined;
}

/**
 * Stale, unreadable, or our own crashed attempt's: take it over, only if nobody changed it since we
 * read it. A server that gives no ETag gets the stale claim deleted, then a fresh conditional create.
 * Undefined when that has to happen on the next attempt, or the condition failed.
 */
async function takeOverClaim(
  options: ClaimOptions,
  claim: Claim,
  current: ReadClaim,
): Promise<ClaimResult | undefined> {
  try {
    if (!current.etag) {
      await options.s3.send(new DeleteObjectCommand({ Bucket: options.bucket, Key: options.key }));
      return undefined;
    }
    const written = await putClaim(options, claim, { IfMatch: current.etag });
    return { claimed: true, ...etagOf(written), ...(current.claim ? { takenOver: current.claim } : {}) };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return undefined;
  }
}

/**
 * Extends our claim's lease (a long run renews it well before it runs out, so a crash is noticed
 * within one lease). Conditional on our version's ETag: a claim that another run took over is not
 * overwritten, and the error says so.
 */
export async function renewClaim(
  options: ClaimOptions & { startedAt: Date; etag: string },
): Promise<{ etag?: string }> {
  const claim = leaseFrom(options, options.startedAt, options.now, options.leaseMs);
  return etagOf(await putClaim(options, claim, { IfMatch: options.etag }));
}

/** Reads the claim, if any: undefined when absent, `claim` undefined when it does not parse. */
export async function readClaim(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ claim?: Claim; etag?: string } | undefined> {
  const object = await getObjectIfPresent(s3, { bucket, key });
  if (!object) return undefined;
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
}

/**
 * Removes the claim if it is still this run's: a run that outlived its lease must not remove the claim
 * of the run that took over. With our version's ETag the delete itself is conditional (`If-Match`);
 * without one (a server that returns none) the holder is checked first.
 */
export async function releaseClaim(
  options: Pick<ClaimOptions, "s3" | "bucket" | "key" | "holder"> & { etag?: string },
): Promise<void> {
  let etag = options.etag;
  if (!etag) {
    const current = await readClaim(options.s3, options.bucket, options.key);
    if (current?.claim?.holder !== options.holder) return;
    etag = current.etag;
  }
  try {
    await options.s3.send(
      new DeleteObjectCommand({ Bucket: options.bucket, Key: options.key, ...(etag ? { IfMatch: etag } : {}) }),
    );
  } catch (error) {
    // Replaced by another run's claim (412, 409), or already gone (404): not ours to remove.
    if (!isConditionFailure(error)) throw error;
  }
}

function leaseFrom(who: Pick<ClaimOptions, "holder" | "runId">, startedAt: Date, now: Date, leaseMs: number): Claim {
  return {
    holder: who.holder,
    ...(who.runId ? { runId: who.runId } : {}),
    startedAt: startedAt.toISOString(),
    expiresAt: new Date(now.getTime() + leaseMs).toISOString(),
  };
}

function etagOf(output: { ETag?: string | undefined }): { etag?: string } {
  return output.ETag ? { etag: output.ETag } : {};
}

function putClaim(
  options: ClaimOptions,
  claim: Claim,
  condition: Pick<PutObjectCommandInput, "IfMatch" | "IfNoneMatch">,
): Promise<{ ETag?: string | undefined }> {
  return options.s3.send(
    new PutObjectCommand({
      Bucket: options.bucket,
      Key: options.key,
      Body: JSON.stringify(claim),
      ContentType: "application/json",
      ...condition,
      ...serverSideEncryption(options.kmsKeyId),
    }),
  );
}
