/**
 * Where backups live in S3: `<prefix>/<system>/<database>/YYYY/MM/DD/<timestamp>.dump` with the
 * manifest beside it as `<key>.manifest.json`. Dates are UTC so keys sort in time order everywhere.
 */

const pad = (n: number) => String(n).padStart(2, "0");

/** `20261121T031500Z` */
export function compactTimestamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/** Folder that holds every backup of one database. */
export function databasePrefix(prefix: string, system: string, database: string): string {
  return `${prefix}/${system}/${database}/`;
}

/** Folder of one UTC day. */
export function dayPrefix(prefix: string, system: string, database: string, day: Date): string {
  return `${databasePrefix(prefix, system, database)}${day.getUTCFullYear()}/${pad(day.getUTCMonth() + 1)}/${pad(day.getUTCDate())}/`;
}

/** Key of a dump taken at `at`. */
export function dumpKey(prefix: string, system: string, database: string, at: Date): string {
  return `${dayPrefix(prefix, system, database, at)}${compactTimestamp(at)}.dump`;
}

/** What the database folder holds below itself: the UTC day folders, then the dump named by its timestamp. */
const DAY_AND_TIMESTAMP = /^(\d{4})\/(\d{2})\/(\d{2})\/((\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z)(\.dump|\.dir)$/;

/**
 * When the dump at `key` was taken, if `key` is exactly `<prefix>/<system>/<database>/YYYY/MM/DD/<timestamp>.dump`
 * with the day folder agreeing with the timestamp; `undefined` for anything else. Matching the whole
 * layout, not just "ends in a timestamp", is what keeps another system's backups nested below this
 * database's folder (or a copy someone dropped there) from being counted, verified or deleted as ours.
 */
export function parseDumpKey(
  key: string,
  scope: { prefix: string; system: string; database: string },
  /** `.dir`: the folder of a directory-format backup (`runbooks/backup/directory.ts`). */
  suffix: ".dump" | ".dir" = ".dump",
): Date | undefined {
  const folder = databasePrefix(scope.prefix, scope.system, scope.database);
  if (!key.startsWith(folder)) return undefined;
  const match = DAY_AND_TIMESTAMP.exec(key.slice(folder.length));
  if (!match || match[11] !== suffix) return undefined;
  const [, year, month, day, stamp, y, m, d, hh, mm, ss] = match;
  if (year !== y || month !== m || day !== d) return undefined;
  const at = new Date(`${y}-${m}-${d}T${hh}:${mm}:${ss}Z`);
  // Rejects impossible dates (2026-02-30 would otherwise roll over into March).
  return Number.isNaN(at.getTime()) || compactTimestamp(at) !== stamp ? undefined : at;
}

export const MANIFEST_SUFFIX = ".manifest.json";

export function manifestKey(dumpKeyValue: string): string {
  return `${dumpKeyValue}${MANIFEST_SUFFIX}`;
}

/** Prefix of drill reports of a system. */
export function drillPrefix(system: string): string {
  return `drills/${system}/`;
}

/** Where drills in progress hold their claims (`lib/s3-claim.ts`); not drill records. */
export function drillClaimPrefix(system: string): string {
  return `${drillPrefix(system)}claims/`;
}

/** The claim of a database's restore drill in progress. */
export function drillClaimKey(system: string, database: string): string {
  return `${drillClaimPrefix(system)}${database}.json`;
}

/** The claim of a database's backup in progress (`lib/s3-claim.ts`): beside its backups, never parsed as one. */
export function claimKey(prefix: string, system: string, database: string): string {
  return `${databasePrefix(prefix, system, database)}in-progress.json`;
}
