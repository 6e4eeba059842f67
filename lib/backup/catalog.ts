import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage, errorName } from "../errors.js";
import { databasePrefix, MANIFEST_SUFFIX, manifestKey } from "./layout.js";
import { type Manifest, manifestSchema } from "./manifest.js";

/** One dump object found in the bucket, with or without its manifest. */
export interface StoredBackup {
  key: string;
  /** When the dump was taken, from the key's timestamp. */
  takenAt: Date;
  bytes: number;
  manifestKey?: string;
}

const TIMESTAMP = /(\d{8}T\d{6}Z)\.dump$/;

function parseTakenAt(key: string): Date | undefined {
  const match = TIMESTAMP.exec(key);
  if (!match?.[1]) return undefined;
  const t = match[1];
  return new Date(
    `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`,
  );
}

/** What a listing found: dumps (newest last) and manifests whose dump is gone. */
export interface Listing {
  backups: StoredBackup[];
  danglingManifests: string[];
}

/**
 * Lists every dump of one database, following continuation tokens so any number of objects works
 * (a tool that reads only the first page of 1000 picks the wrong "latest").
 */
export async function listBackups(
  s3: S3Client,
  options: { bucket: string; prefix: string; system: string; database: string },
): Promise<Listing> {
  const dumps = new Map<string, { bytes: number; takenAt: Date }>();
  const manifests = new Set<string>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: options.bucket,
        Prefix: databasePrefix(options.prefix, options.system, options.database),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? "";
      if (key.endsWith(MANIFEST_SUFFIX)) manifests.add(key);
      else {
        const takenAt = parseTakenAt(key);
        if (takenAt) dumps.set(key, { bytes: object.Size ?? 0, takenAt });
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const backups = [...dumps.entries()]
    .map(([key, d]) => ({ key, ...d, ...(manifests.has(manifestKey(key)) ? { manifestKey: manifestKey(key) } : {}) }))
    .sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || a.key.localeCompare(b.key));
  const danglingManifests = [...manifests].filter((m) => !dumps.has(m.slice(0, -MANIFEST_SUFFIX.length)));
  return { backups, danglingManifests };
}

/** Reads and validates a manifest; `undefined` when it is missing or malformed. */
export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = (await object.Body?.transformToString("utf8")) ?? "";
    const parsed = manifestSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch (error) {
    if (errorMessage(error).includes("NoSuchKey") || errorName(error) === "NoSuchKey") return undefined;
    throw error;
  }
}

/** A backup whose manifest exists, parses, and agrees with the stored object's size. */
export interface VerifiedBackup {
  backup: StoredBackup;
  manifest: Manifest;
}

/**
 * The newest verified backup: walks from the newest dump backwards, reading manifests until one
 * checks out (usually one GET).
 */
export async function newestVerified(
  s3: S3Client,
  bucket: string,
  backups: StoredBackup[],
): Promise<VerifiedBackup | undefined> {
  for (let i = backups.length - 1; i >= 0; i--) {
    const backup = backups[i];
    if (!backup?.manifestKey) continue;
    const manifest = await readManifest(s3, bucket, backup.manifestKey);
    if (manifest && manifest.bytes === backup.bytes && manifest.key === backup.key) return { backup, manifest };
  }
  return undefined;
}

/** Every dump of one database of a system, and the newest verified one among them. */
export async function inspectBackups(
  s3: S3Client,
  options: { bucket: string; prefix: string; system: string; database: string },
): Promise<Listing & { newest: VerifiedBackup | undefined }> {
  const listing = await listBackups(s3, options);
  return { ...listing, newest: await newestVerified(s3, options.bucket, listing.backups) };
}
