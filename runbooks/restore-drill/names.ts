import { createHash } from "node:crypto";
import { compactTimestamp } from "../../runbooks/backup/layout.js";

/**
 * Names of what a drill creates. State lives on the resource (DESIGN.md): a drill database carries its
 * id in its name and its id, owner and deadline in a COMMENT; a drill RDS instance carries them in
 * tags. The janitor finds leftovers from these alone, with no database of our own.
 */

// The scratch database label (COMMENT) and prefix are the adapter's: lib/postgres/scratch.ts lists by them.
export {
  type DrillComment,
  drillCommentSchema,
  formatDrillComment,
  parseDrillComment,
  SCRATCH_DATABASE_PREFIX,
} from "../../lib/postgres/scratch.js";

import { SCRATCH_DATABASE_PREFIX } from "../../lib/postgres/scratch.js";

/** Prefix of every scratch RDS instance a drill creates (`drill-<system>-<hash>-<database>-<hash>-<time>`). */
export const SCRATCH_INSTANCE_PREFIX = "drill-";

/** Tag keys on a scratch RDS instance. */
export const DRILL_TAGS = {
  drillId: "ops-autopilot:drill-id",
  system: "ops-autopilot:system",
  database: "ops-autopilot:database",
  source: "ops-autopilot:drill-source",
  startedAt: "ops-autopilot:drill-started",
  deadline: "ops-autopilot:drill-deadline",
  state: "ops-autopilot:drill-state",
  recoveryPoint: "ops-autopilot:recovery-point",
  sourceInstance: "ops-autopilot:source-instance",
  snapshot: "ops-autopilot:snapshot",
} as const;

/**
 * Life of a scratch RDS instance, kept in its `drill-state` tag: `restoring` until the available event,
 * `validating:<token>` while the invocation that won the drill's claim (an S3 object created only if
 * absent) validates,
 * then `passed` or `failed` until it is deleted.
 */
export type DrillState = "restoring" | `validating:${string}` | "passed" | "failed";

/** `20261121t100000z`: the compact UTC timestamp, lower-cased for RDS identifiers and database names. */
export function drillTimestamp(at: Date): string {
  return compactTimestamp(at).toLowerCase();
}

/** Parses {@link drillTimestamp} back to a Date; undefined when it is not one. */
export function parseDrillTimestamp(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})z$/.exec(text);
  if (!m) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A drill's id: who and when, readable in Slack and valid as a tag value. */
export function drillId(system: string, database: string, startedAt: Date): string {
  return `${system}/${database}/${drillTimestamp(startedAt)}`;
}

function part(text: string, max: number, separator: "_" | "-"): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, separator)
    .slice(0, max);
  const collapse = separator === "-" ? /-+/g : /_+/g;
  return cleaned.replace(collapse, separator).replace(separator === "-" ? /^-+|-+$/g : /^_+|_+$/g, "");
}

/**
 * Hex digest of an owner (system, or system and database), the part of a name that makes it
 * unambiguous: the readable parts are lower-cased, folded and truncated, so `ims`/`2-main` and
 * `ims-2`/`main` read the same (`ims_2_main`); their hashes differ.
 */
function ownerHash(length: number, ...owner: string[]): string {
  return createHash("sha256").update(owner.join("\u0000")).digest("hex").slice(0, length);
}

/**
 * `drill_<system>_<database>_<hash8>_` (system ≤ 16, database ≤ 14 characters; the hash is of the
 * exact system and database ids): what a database's scratch databases start with.
 */
export function scratchDatabasePrefix(system: string, database: string): string {
  const readable = [part(system, 16, "_"), part(database, 14, "_")].filter(Boolean).join("_");
  return `${SCRATCH_DATABASE_PREFIX}${readable}_${ownerHash(8, system, database)}_`;
}

/**
 * Scratch database name: `drill_<system>_<database>_<hash8>_<yyyymmddThhmmssZ>` in lower case, at most
 * 63 bytes (PostgreSQL's identifier limit), safe unquoted, and different for any two (system, database)
 * pairs.
 */
export function scratchDatabaseName(system: string, database: string, startedAt: Date): string {
  return `${scratchDatabasePrefix(system, database)}${drillTimestamp(startedAt)}`;
}

/**
 * `drill-<system>-<hash5>-` (system ≤ 12 characters, the hash of the exact system id): what every
 * scratch instance of a system starts with, and what IAM scopes deletion to. The hash keeps `ims`'s
 * prefix from matching `ims-2`'s instances.
 */
export function scratchInstanceSystemPrefix(system: string): string {
  return `${SCRATCH_INSTANCE_PREFIX}${[part(system, 12, "-"), ownerHash(5, system)].filter(Boolean).join("-")}-`;
}

/** `drill-<system>-<hash5>-<database>-<hash6>-`: the identifier prefix of a database's scratch instances. */
export function scratchInstancePrefix(system: string, database: string): string {
  const readable = [part(database, 10, "-"), ownerHash(6, system, database)].filter(Boolean).join("-");
  return `${scratchInstanceSystemPrefix(system)}${readable}-`;
}

/**
 * Scratch RDS instance identifier: 1–63 letters, digits and hyphens, starting with a letter, no double
 * or trailing hyphen (RDS rules), different for any two (system, database) pairs.
 */
export function scratchInstanceId(system: string, database: string, startedAt: Date): string {
  return `${scratchInstancePrefix(system, database)}${drillTimestamp(startedAt)}`;
}

/** Start time encoded at the end of a scratch database name or instance identifier. */
export function startedAtFromName(name: string): Date | undefined {
  const m = /(\d{8}t\d{6}z)$/.exec(name);
  return m?.[1] ? parseDrillTimestamp(m[1]) : undefined;
}

/** A tag list as a map. */
export function tagMap(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined) {
  const map = new Map<string, string>();
  for (const tag of tags ?? []) if (tag.Key) map.set(tag.Key, tag.Value ?? "");
  return map;
}

/**
 * Which system and database a scratch instance belongs to, from its identifier alone (the RDS event
 * handler needs the system before it can build clients for its account). Undefined when no system of
 * the list would have made this identifier.
 */
export function findDrillOwner<S extends { id: string; databases: readonly { id: string }[] }>(
  systems: readonly S[],
  instanceId: string,
): { system: S; database: S["databases"][number] } | undefined {
  for (const system of systems) {
    for (const database of system.databases) {
      const prefix = scratchInstancePrefix(system.id, database.id);
      if (instanceId.startsWith(prefix) && parseDrillTimestamp(instanceId.slice(prefix.length))) {
        return { system, database };
      }
    }
  }
  return undefined;
}
