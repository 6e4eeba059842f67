import { DeleteObjectsCommand, type S3Client } from "@aws-sdk/client-s3";

/** DeleteObjects takes at most 1000 keys a call. */
const DELETE_BATCH = 1000;

/** A backup retention gave up: its key, its manifest, a directory backup's files, and why it goes. */
export interface DoomedBackup {
  key: string;
  manifestKey?: string;
  files?: string[];
  reasons: string[];
}

/** What happened to one backup (or one object of it that could not be deleted). */
export interface DeleteOutcome {
  resource: string;
  status: "done" | "failed";
  reason: string;
}

/** Deletes keys in batches; returns the error of each key that was not deleted. */
async function deleteKeys(s3: S3Client, bucket: string, keys: string[]): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const batch = keys.slice(i, i + DELETE_BATCH);
    const result = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    for (const e of result.Errors ?? []) failed.set(e.Key ?? "", `${e.Code}: ${e.Message}`);
  }
  return failed;
}

/** One outcome per backup, or per object that failed (its files never reported one by one when they went). */
function outcomesOf(doomed: DoomedBackup, failed: Map<string, string>, attempted: Set<string>): DeleteOutcome[] {
  const objects = [...(doomed.manifestKey ? [doomed.manifestKey] : []), ...(doomed.files ?? [doomed.key])];
  const failures = objects.flatMap((key) => {
    const error = failed.get(key);
    return error ? [{ resource: key, status: "failed" as const, reason: error }] : [];
  });
  if (failures.length) return failures;
  if (!objects.every((key) => attempted.has(key))) return [];
  return [{ resource: doomed.key, status: "done", reason: doomed.reasons.join(", ") }];
}

/**
 * Deletes the backups retention gave up, and manifests whose dump is gone. A custom dump goes with its
 * manifest in one batch, as before. A directory backup's manifest goes first and its files only once
 * the manifest is gone: whatever stops the run half-way, no manifest is ever left describing a
 * directory with files missing (which would pass for a backup until a restore tried it), and a
 * directory whose manifest cannot be deleted stays whole. Its files then go together, reported as one.
 */
export async function deleteBackups(
  s3: S3Client,
  options: { bucket: string; doomed: DoomedBackup[]; danglingManifests: string[] },
): Promise<{ outcomes: DeleteOutcome[]; deleted: number }> {
  const { bucket, doomed, danglingManifests } = options;
  const first = [
    ...doomed.flatMap((d) =>
      d.files ? (d.manifestKey ? [d.manifestKey] : []) : [d.key, ...(d.manifestKey ? [d.manifestKey] : [])],
    ),
    ...danglingManifests,
  ];
  const failed = await deleteKeys(s3, bucket, first);
  const second = doomed.flatMap((d) => (d.files && !(d.manifestKey && failed.has(d.manifestKey)) ? d.files : []));
  for (const [key, error] of await deleteKeys(s3, bucket, second)) failed.set(key, error);
  const attempted = new Set([...first, ...second]);
  const outcomes = [
    ...doomed.flatMap((d) => outcomesOf(d, failed, attempted)),
    ...danglingManifests.map((key): DeleteOutcome => {
      const error = failed.get(key);
      return error
        ? { resource: key, status: "failed", reason: error }
        : { resource: key, status: "done", reason: "manifest without its dump" };
    }),
  ];
  const deleted = outcomes.filter((o) => o.status === "done").length;
  return { outcomes, deleted };
}
