import { GetObjectCommand, type GetObjectCommandOutput, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { errorName } from "./errors.js";

/** What S3 answers for a key that is not there, to a caller allowed to list it. */
const ABSENT = new Set(["NoSuchKey", "NotFound"]);

/** A 403 from GetObject: no access, or (see {@link getObjectIfPresent}) a missing key S3 will not confirm. */
function isAccessDenied(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return errorName(error) === "AccessDenied" || errorName(error) === "Forbidden" || status === 403;
}

/**
 * GetObject, or undefined when the key does not exist.
 *
 * Why more than catching `NoSuchKey`: S3 only answers 404 for a missing key to a caller it allows
 * `s3:ListBucket` on the bucket *for that request*, and our roles have ListBucket only under their own
 * prefixes (an `s3:prefix` condition, which a GetObject request does not carry). To them S3 answers a
 * missing key with 403 AccessDenied, so the first alarm ever (no state yet) or a dump without its
 * manifest would read as "access denied". On a 403 this lists exactly that key (`Prefix` = the key,
 * which the prefix condition allows): not listed means absent; listed means the denial is real, and the
 * original error is thrown. A list that fails too leaves the original error standing.
 */
export async function getObjectIfPresent(
  s3: S3Client,
  where: { bucket: string; key: string },
  options: { abortSignal?: AbortSignal } = {},
): Promise<GetObjectCommandOutput | undefined> {
  try {
    return await s3.send(new GetObjectCommand({ Bucket: where.bucket, Key: where.key }), options);
  } catch (error) {
    if (ABSENT.has(errorName(error))) return undefined;
    if (isAccessDenied(error) && (await listedAbsent(s3, where, options))) return undefined;
    throw error;
  }
}

async function listedAbsent(
  s3: S3Client,
  where: { bucket: string; key: string },
  options: { abortSignal?: AbortSignal },
): Promise<boolean> {
  try {
    const listing = await s3.send(
      new ListObjectsV2Command({ Bucket: where.bucket, Prefix: where.key, MaxKeys: 1 }),
      options,
    );
    return !(listing.Contents ?? []).some((object) => object.Key === where.key);
  } catch (error) {
    // Cancelled meanwhile: that is the story, not the 403.
    if (options.abortSignal?.aborted) throw error;
    return false;
  }
}
