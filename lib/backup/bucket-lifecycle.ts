/**
 * S3 lifecycle rules of every backup bucket, in the shape of `PutBucketLifecycleConfiguration`'s rules as
 * the Pulumi AWS provider takes them (`sst.config.ts` passes them through unchanged).
 */
export interface LifecycleRule {
  id: string;
  status: "Enabled";
  filter: { prefix: string };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
  noncurrentVersionExpiration?: { noncurrentDays: number };
  expiration?: { expiredObjectDeleteMarker?: boolean; days?: number };
}

/**
 * Days a pruned backup stays recoverable. The buckets are versioned, so `prune-backups` only hides a
 * backup behind a delete marker: without this rule pruning would free no storage at all, and with it a
 * wrong prune can still be undone for a week.
 */
export const PRUNED_VERSION_DAYS = 7;

/**
 * Days before S3 removes the parts of a multipart upload that was never completed. A failed backup
 * aborts its own upload; this catches the one whose process died before it could (Lambda timeout, OOM),
 * whose parts would otherwise be billed forever without being visible as objects.
 */
export const INCOMPLETE_UPLOAD_DAYS = 1;

/** The rules a backup bucket gets, whole-bucket (backups, manifests, drill records alike). */
export function backupBucketLifecycleRules(): LifecycleRule[] {
  return [
    {
      id: "abort-incomplete-multipart-uploads",
      status: "Enabled",
      filter: { prefix: "" },
      abortIncompleteMultipartUpload: { daysAfterInitiation: INCOMPLETE_UPLOAD_DAYS },
    },
    {
      id: "expire-pruned-versions",
      status: "Enabled",
      filter: { prefix: "" },
      noncurrentVersionExpiration: { noncurrentDays: PRUNED_VERSION_DAYS },
      // Once its last version is gone, the delete marker is removed too.
      expiration: { expiredObjectDeleteMarker: true },
    },
  ];
}
