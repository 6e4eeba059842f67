import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { errorMessage, RunbookError } from "../../lib/errors.js";
import { mapPool } from "../../lib/pool.js";
import { getObjectIfPresent } from "../../lib/s3-object.js";
import { directoryDisagreements, parseDirectoryFile, type StoredFile } from "./directory.js";
import { claimKey, databasePrefix, MANIFEST_SUFFIX, manifestKey, parseDumpKey } from "./layout.js";
import { type Manifest, manifestSchema } from "./manifest.js";

/** The backups of one database of one system: where they live and whose they are. */
export interface BackupScope {
  bucket: string;
  prefix: string;
  system: string;
  database: string;
}

/** One dump object found in the bucket, with or without its manifest. */
export interface StoredBackup {
  key: string;
  /** When the dump was taken, from the key's timestamp. */
  takenAt: Date;
  bytes: number;
  manifestKey?: string;
  /** A directory backup's files (`<key>/<name>`); absent for a custom dump, which is the object at `key`. */
  files?: StoredFile[];
}

/** What a listing found: dumps (oldest first), manifests whose dump is gone, and keys that are not ours. */
export interface Listing {
  backups: StoredBackup[];
  danglingManifests: string[];
  /**
   * Keys under the database's folder that are not in the backup layout (another system's nested
   * backups, a hand-made copy): never counted, never deleted.
   */
  foreign: string[];
}

/**
 * How far ahead of our clock a key or manifest may be dated before it is suspect: 5 minutes. Clocks
 * synchronised by NTP (Lambda, ECS, a laptop) agree within a second or two; S3 itself refuses requests
 * whose clock is 15 minutes off (RequestTimeTooSkewed), so a writer can be at most that far ahead. Five
 * minutes absorbs ordinary drift and stays well below the shortest interval that matters here (the
 * 60-minute minimum between backups).
 */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * What a dump was found to be. Only `verified` is a backup; `future` is a dump dated beyond
 * {@link FUTURE_TOLERANCE_MS} from now (by its key or its manifest): a clock is wrong somewhere.
 */
export type BackupCheck =
  | { state: "verified"; manifest: Manifest }
  | { state: "no-manifest"; reason: string }
  | { state: "bad-manifest"; reason: string }
  | { state: "future"; reason: string };

/** A dump with what its check found. */
export type CheckedBackup = StoredBackup & { check: BackupCheck };

/** A backup whose manifest exists, parses, and agrees with the stored object and its place in the layout. */
export interface VerifiedBackup {
  backup: StoredBackup;
  manifest: Manifest;
}

/** `5.0 d`, `56.0 h`, `12 min`: a span of time, for a person (days from 72 h on). */
export function describeSpan(ms: number): string {
  const minutes = Math.round(Math.abs(ms) / 60_000);
  if (minutes >= 72 * 60) return `${(minutes / 1440).toFixed(1)} d`;
  return minutes >= 120 ? `${(minutes / 60).toFixed(1)} h` : `${minutes} min`;
}

/**
 * Lists every dump of one database (a custom dump's object, or a directory backup's files as one), following continuation tokens so any number of objects works
 * (a tool that reads only the first page of 1000 picks the wrong "latest"). Only keys in the exact
 * layout are dumps (see {@link parseDumpKey}); only their manifests count.
 */
export async function listBackups(s3: S3Client, scope: BackupScope): Promise<Listing> {
  const found = new ListedObjects(scope);
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: scope.bucket,
        Prefix: databasePrefix(scope.prefix, scope.system, scope.database),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) found.add(object.Key ?? "", object.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found.listing();
}

/** Sorts listed keys into dumps, directory backups (their files), manifests and foreign keys. */
class ListedObjects {
  private readonly dumps = new Map<string, { bytes: number; takenAt: Date; files?: StoredFile[] }>();
  private readonly manifests = new Set<string>();
  private readonly foreign: string[] = [];
  private readonly claim: string;

  constructor(private readonly scope: BackupScope) {
    this.claim = claimKey(scope.prefix, scope.system, scope.database);
  }

  add(key: string, bytes: number): void {
    const file = parseDirectoryFile(key, this.scope, (k) => parseDumpKey(k, this.scope, ".dir"));
    if (file) {
      const directory = this.dumps.get(file.backupKey) ?? { bytes: 0, takenAt: file.takenAt, files: [] };
      directory.files?.push({ name: file.name, key, bytes });
      directory.bytes += bytes;
      this.dumps.set(file.backupKey, directory);
      return;
    }
    const manifestOf = key.endsWith(MANIFEST_SUFFIX) ? key.slice(0, -MANIFEST_SUFFIX.length) : undefined;
    const takenAt = manifestOf
      ? (parseDumpKey(manifestOf, this.scope) ?? parseDumpKey(manifestOf, this.scope, ".dir"))
      : parseDumpKey(key, this.scope);
    if (!takenAt) {
      if (key !== this.claim) this.foreign.push(key);
    } else if (manifestOf) this.manifests.add(key);
    else this.dumps.set(key, { bytes, takenAt });
  }

  listing(): Listing {
    const { dumps, manifests } = this;
    const backups = [...dumps.entries()]
      .map(([key, d]) => ({
        key,
        ...d,
        ...(manifests.has(manifestKey(key)) ? { manifestKey: manifestKey(key) } : {}),
      }))
      .sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || a.key.localeCompare(b.key));
    const danglingManifests = [...manifests].filter((m) => !dumps.has(m.slice(0, -MANIFEST_SUFFIX.length)));
    return { backups, danglingManifests, foreign: this.foreign.sort() };
  }
}

function schemaProblems(raw: unknown): string | undefined {
  const parsed = manifestSchema.safeParse(raw);
  if (parsed.success) return undefined;
  return parsed.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/** Where the manifest disagrees with the object it describes and the place the object is in. */
function disagreements(manifest: Manifest, backup: StoredBackup, scope: BackupScope): string[] {
  const found: string[] = [];
  if (manifest.key !== backup.key) found.push(`key "${manifest.key}"`);
  if (manifest.bytes !== backup.bytes) found.push(`${manifest.bytes} bytes (the object has ${backup.bytes})`);
  if (manifest.system !== scope.system) found.push(`system "${manifest.system}" (expected "${scope.system}")`);
  if (manifest.database !== scope.database)
    found.push(`database "${manifest.database}" (expected "${scope.database}")`);
  if (manifest.bucket !== scope.bucket) found.push(`bucket "${manifest.bucket}" (expected "${scope.bucket}")`);
  const started = Date.parse(manifest.startedAt);
  const finished = Date.parse(manifest.finishedAt);
  // The key is made from the start time, to the second: any other start means the manifest is another dump's.
  if (Number.isNaN(started) || Math.floor(started / 1000) * 1000 !== backup.takenAt.getTime())
    found.push(`startedAt "${manifest.startedAt}" (the key says ${backup.takenAt.toISOString()})`);
  if (Number.isNaN(finished) || finished < started) found.push(`finishedAt "${manifest.finishedAt}"`);
  found.push(...directoryDisagreements(manifest, backup.files));
  return found;
}

/**
 * Judges a manifest's text against the dump it sits beside (pure): it must parse, match the schema,
 * name this dump's key, size, system, database and bucket, start when the key says, and not be dated
 * in the future.
 */
export function judgeManifest(
  text: string,
  options: { backup: StoredBackup; scope: BackupScope; now: Date },
): BackupCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { state: "bad-manifest", reason: `manifest is not JSON (${errorMessage(error)})` };
  }
  const problems = schemaProblems(raw);
  if (problems) return { state: "bad-manifest", reason: `manifest does not match the schema (${problems})` };
  const manifest = manifestSchema.parse(raw);
  const found = disagreements(manifest, options.backup, options.scope);
  if (found.length) return { state: "bad-manifest", reason: `manifest names ${found.join(", ")}` };
  const ahead = Date.parse(manifest.finishedAt) - options.now.getTime();
  if (ahead > FUTURE_TOLERANCE_MS)
    return { state: "future", reason: `manifest finished ${manifest.finishedAt}, ${describeSpan(ahead)} ahead of now` };
  return { state: "verified", manifest };
}

/** The manifest's text; `undefined` when it is gone. Other errors (throttling, access) are thrown. */
async function fetchManifest(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const object = await getObjectIfPresent(s3, { bucket, key });
    return object ? ((await object.Body?.transformToString("utf8")) ?? "") : undefined;
  } catch (error) {
    if (errorMessage(error).includes("NoSuchKey")) return undefined;
    throw new RunbookError(`cannot read manifest s3://${bucket}/${key}: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * Checks one dump: a key dated in the future is suspect without reading anything; otherwise its
 * manifest is read and judged ({@link judgeManifest}).
 */
export async function checkBackup(
  s3: S3Client,
  options: { scope: BackupScope; backup: StoredBackup; now: Date },
): Promise<BackupCheck> {
  const { backup, now } = options;
  const ahead = backup.takenAt.getTime() - now.getTime();
  if (ahead > FUTURE_TOLERANCE_MS)
    return {
      state: "future",
      reason: `key dated ${backup.takenAt.toISOString()}, ${describeSpan(ahead)} ahead of now`,
    };
  if (!backup.manifestKey) return { state: "no-manifest", reason: "no manifest" };
  const text = await fetchManifest(s3, options.scope.bucket, backup.manifestKey);
  if (text === undefined) return { state: "no-manifest", reason: "manifest disappeared while listing" };
  return judgeManifest(text, options);
}

/** Manifests read at once when every dump is checked: bounded, so 400 backups are 50 rounds, not 400. */
export const MANIFEST_READ_CONCURRENCY = 8;

/**
 * Every dump of one database, each checked (manifests read {@link MANIFEST_READ_CONCURRENCY} at a
 * time), and the newest verified one. A manifest that cannot be read (throttling, access denied) fails
 * the whole call: retention must not decide over a partial picture.
 */
export async function checkAllBackups(
  s3: S3Client,
  options: BackupScope & { now: Date; concurrency?: number },
): Promise<Listing & { checked: CheckedBackup[]; newest: VerifiedBackup | undefined }> {
  const listing = await listBackups(s3, options);
  const outcomes = await mapPool(listing.backups, options.concurrency ?? MANIFEST_READ_CONCURRENCY, (backup) =>
    checkBackup(s3, { scope: options, backup, now: options.now }),
  );
  const checked = listing.backups.map((backup, i): CheckedBackup => {
    const outcome = outcomes[i];
    if (outcome?.status !== "done") throw outcome?.status === "error" ? outcome.error : new RunbookError("not checked");
    return { ...backup, check: outcome.value };
  });
  const newest = checked.findLast((b) => b.check.state === "verified");
  return {
    ...listing,
    checked,
    newest: newest?.check.state === "verified" ? { backup: newest, manifest: newest.check.manifest } : undefined,
  };
}

/**
 * The newest verified backup: walks from the newest dump backwards, reading manifests until one checks
 * out (usually one GET). Returns the dumps passed over on the way (dated in the future, unverified),
 * newest first, so a caller can say why they were not taken.
 */
export async function newestVerified(
  s3: S3Client,
  options: { scope: BackupScope; backups: StoredBackup[]; now: Date },
): Promise<{ newest: VerifiedBackup | undefined; passedOver: CheckedBackup[] }> {
  const passedOver: CheckedBackup[] = [];
  for (let i = options.backups.length - 1; i >= 0; i--) {
    const backup = options.backups[i];
    if (!backup) continue;
    const check = await checkBackup(s3, { scope: options.scope, backup, now: options.now });
    if (check.state === "verified") return { newest: { backup, manifest: check.manifest }, passedOver };
    passedOver.push({ ...backup, check });
  }
  return { newest: undefined, passedOver };
}

/** Every dump of one database of a system, the newest verified one among them and what was passed over. */
export async function inspectBackups(
  s3: S3Client,
  options: BackupScope & { now: Date },
): Promise<Listing & { newest: VerifiedBackup | undefined; passedOver: CheckedBackup[] }> {
  const listing = await listBackups(s3, options);
  return { ...listing, ...(await newestVerified(s3, { scope: options, backups: listing.backups, now: options.now })) };
}
