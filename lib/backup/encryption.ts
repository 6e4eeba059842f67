/**
 * Server-side encryption of every object written beside the backups (dumps, manifests, drill records,
 * claims): SSE-KMS with the system's key when one is configured, else SSE-S3.
 */
export function serverSideEncryption(
  kmsKeyId: string | undefined,
): { ServerSideEncryption: "aws:kms"; SSEKMSKeyId: string } | { ServerSideEncryption: "AES256" } {
  return kmsKeyId ? { ServerSideEncryption: "aws:kms", SSEKMSKeyId: kmsKeyId } : { ServerSideEncryption: "AES256" };
}
