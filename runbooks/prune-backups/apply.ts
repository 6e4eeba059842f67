import type { S3Client } from "@aws-sdk/client-s3";
import { deleteBackups } from "../../lib/backup/delete-backups.js";
import type { RetentionDecision } from "../backup/retention.js";

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

/**
 * Deletes in batches of 1000 keys (`lib/backup/delete-backups.ts`). A custom dump and its manifest go
 * together and are one result (the dump's); a directory backup's manifest goes first, then its files,
 * and it is one result too; a refused key is a result of its own, manifest or not.
 */
export async function applyDeletion(s3: S3Client, deletion: Deletion): Promise<DeleteResult[]> {
  const { outcomes } = await deleteBackups(s3, {
    bucket: deletion.bucket,
    doomed: deletion.remove,
    danglingManifests: deletion.danglingManifests,
  });
  return outcomes.map(
    (o): DeleteResult =>
      o.status === "done"
        ? { key: o.resource, deleted: true, reason: o.reason }
        : { key: o.resource, deleted: false, reason: o.reason },
  );
}
