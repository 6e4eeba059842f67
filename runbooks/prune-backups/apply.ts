import { DeleteObjectsCommand, type S3Client } from "@aws-sdk/client-s3";
import { MANIFEST_SUFFIX } from "../backup/layout.js";
import type { RetentionDecision } from "../backup/retention.js";

/** DeleteObjects takes at most 1000 keys a call. */
const DELETE_BATCH = 1000;

/** What the plan deletes: the dumps retention let go (each with its manifest) and manifests without a dump. */
export interface Deletion {
  bucket: string;
  remove: RetentionDecision[];
  danglingManifests: string[];
}

/** One key's end: deleted (with the reason it could go) or refused by S3 (with S3's code and message). */
export type DeleteResult =
  | { key: string; deleted: true; reason: string }
  | { key: string; deleted: false; reason: string };

/** Why a key could go: its retention reasons, or that it is a manifest whose dump is gone. */
function reasonsByKey(deletion: Deletion): Map<string, string> {
  const reasons = new Map(deletion.remove.map((d) => [d.key, d.reasons.join(", ")]));
  for (const m of deletion.danglingManifests) reasons.set(m, "manifest without its dump");
  return reasons;
}

/**
 * Deletes in batches of 1000 keys. A dump and its manifest go together and are one result (the dump's);
 * a refused key is a result of its own, manifest or not.
 */
export async function applyDeletion(s3: S3Client, deletion: Deletion): Promise<DeleteResult[]> {
  const objects = [
    ...deletion.remove.flatMap((d) => [d.key, ...(d.manifestKey ? [d.manifestKey] : [])]),
    ...deletion.danglingManifests,
  ];
  const reasons = reasonsByKey(deletion);
  const results: DeleteResult[] = [];
  for (let i = 0; i < objects.length; i += DELETE_BATCH) {
    const batch = objects.slice(i, i + DELETE_BATCH);
    const answer = await s3.send(
      new DeleteObjectsCommand({
        Bucket: deletion.bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const refused = new Map((answer.Errors ?? []).map((e) => [e.Key ?? "", `${e.Code}: ${e.Message}`]));
    for (const key of batch) {
      const error = refused.get(key);
      if (error) results.push({ key, deleted: false, reason: error });
      else if (!key.endsWith(MANIFEST_SUFFIX) || deletion.danglingManifests.includes(key))
        results.push({ key, deleted: true, reason: reasons.get(key) ?? "manifest without its dump" });
    }
  }
  return results;
}
