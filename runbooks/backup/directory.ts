import { createHash } from "node:crypto";
import { compactTimestamp, databasePrefix, dayPrefix } from "./layout.js";
import type { Manifest } from "./manifest.js";

/**
 * The layout of a directory-format backup (`pg_dump -Fd`): the files below `<day>/<timestamp>.dir/`,
 * the manifest beside that folder as `<timestamp>.dir.manifest.json`. The folder's name plays the part
 * of a custom dump's key: one backup, one timestamp, one manifest, whatever the number of files.
 */

/** The suffix of a directory backup's key (`…/20261201T031500Z.dir`). */
export const DIRECTORY_SUFFIX = ".dir";

/** One file of a directory backup, as listed in the bucket. */
export interface StoredFile {
  name: string;
  key: string;
  bytes: number;
}

/** One file of a directory backup, as the manifest records it. */
export interface ManifestFile {
  name: string;
  bytes: number;
  sha256: string;
}

/** Key of a directory backup taken at `at` (a folder: its files are `<key>/<name>`). */
export function directoryKey(prefix: string, system: string, database: string, at: Date): string {
  return `${dayPrefix(prefix, system, database, at)}${compactTimestamp(at)}${DIRECTORY_SUFFIX}`;
}

/** Key of one file of the directory backup at `key`. */
export function directoryFileKey(key: string, name: string): string {
  return `${key}/${name}`;
}

/** pg_dump -Fd's file names: `toc.dat`, `<dumpId>.dat[.gz|.lz4|.zst]`, `blobs.toc`, `blob_<oid>.dat…`. */
const FILE_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The directory backup a key is a file of: `<prefix>/<system>/<database>/YYYY/MM/DD/<timestamp>.dir/<name>`,
 * exactly one level below the folder; `undefined` for anything else. `parseKey` is the layout's own
 * check of a backup key (day folder agreeing with the timestamp), applied to the folder.
 */
export function parseDirectoryFile(
  key: string,
  scope: { prefix: string; system: string; database: string },
  parseKey: (backupKey: string) => Date | undefined,
): { backupKey: string; name: string; takenAt: Date } | undefined {
  if (!key.startsWith(databasePrefix(scope.prefix, scope.system, scope.database))) return undefined;
  const slash = key.lastIndexOf("/");
  const backupKey = key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (!backupKey.endsWith(DIRECTORY_SUFFIX) || !FILE_NAME.test(name)) return undefined;
  const takenAt = parseKey(backupKey);
  return takenAt ? { backupKey, name, takenAt } : undefined;
}

/**
 * The digest of a directory backup: sha256 over its files' `name bytes sha256` lines in name order. Two
 * directories with the same digest hold the same files with the same contents, so the manifest's
 * `sha256` checks a whole directory backup the way it checks a custom dump.
 */
export function filesDigest(files: readonly ManifestFile[]): string {
  const lines = [...files]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((f) => `${f.name} ${f.bytes} ${f.sha256}\n`);
  return createHash("sha256").update(lines.join("")).digest("hex");
}

/**
 * Where a directory backup's files in the bucket disagree with its manifest: a file it lists that is
 * missing or of another size, a file it does not list, or totals that do not add up. Any of these and
 * the backup is not verified (a partial upload, a deleted or replaced file).
 */
export function directoryDisagreements(
  manifest: Pick<Manifest, "format" | "files" | "bytes" | "sha256">,
  stored: readonly StoredFile[] | undefined,
): string[] {
  if (manifest.format !== "directory") return stored ? [`format "${manifest.format}" (the backup is a directory)`] : [];
  if (!stored) return ['format "directory" (the backup is one object)'];
  const listed = manifest.files ?? [];
  const found: string[] = [];
  const byName = new Map(stored.map((f) => [f.name, f]));
  const missing = listed.filter((f) => !byName.has(f.name)).map((f) => f.name);
  if (missing.length)
    found.push(`${missing.length} missing file${missing.length === 1 ? "" : "s"} (${missing.slice(0, 3).join(", ")})`);
  for (const f of listed) {
    const object = byName.get(f.name);
    if (object && object.bytes !== f.bytes)
      found.push(`file ${f.name} of ${f.bytes} bytes (the object has ${object.bytes})`);
  }
  const names = new Set(listed.map((f) => f.name));
  const extra = stored.filter((f) => !names.has(f.name)).map((f) => f.name);
  if (extra.length) found.push(`no file ${extra.slice(0, 3).join(", ")} (found in the folder)`);
  if (listed.reduce((sum, f) => sum + f.bytes, 0) !== manifest.bytes)
    found.push(`${manifest.bytes} bytes in all (its files add up to another total)`);
  if (filesDigest(listed) !== manifest.sha256) found.push("a sha256 that is not the digest of its files");
  return found;
}
