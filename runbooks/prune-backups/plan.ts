import { plural } from "../../lib/text.js";
import { backupMaxAgeMinutes, type System } from "../../systems/schema.js";
import { type CheckedBackup, describeSpan, type Listing, type VerifiedBackup } from "../backup/catalog.js";
import { decideRetention, type RetentionDecision } from "../backup/retention.js";

/** What the read step found for one database (the same in a dry run): every dump, each checked. */
export interface PruneSnapshot extends Listing {
  database: string;
  checked: CheckedBackup[];
  newest: VerifiedBackup | undefined;
}

/** What the plan decides from besides the snapshot: the system's retention, calendar and age limit. */
export type PruneSettings = System;

/** A reason the database is not pruned, on the resource it concerns (a dump, or the database). */
export interface PruneStop {
  resource: string;
  reason: string;
  before?: { newest: string };
}

/** What the database holds, counted for the metrics. */
export interface PruneCounts {
  backups: number;
  verified: number;
  unverified: number;
  future: number;
}

/** Fields every plan has: what was counted, the newest verified backup's age, the keys left alone. */
interface PlanBase {
  resource: string;
  database: string;
  counts: PruneCounts;
  /** Age of the newest verified backup in whole seconds, never negative; absent without one. */
  ageSeconds?: number;
  /** Keys under the database's folder not in the layout (another system's nested backups): never touched. */
  foreign: string[];
}

/**
 * One database's prune plan: stopped (each reason `failed`, nothing deleted; the unverified dumps listed
 * when nothing is verified), or the retention decisions: what is kept and why, what goes and why, and the
 * manifests whose dump is gone.
 */
export type PrunePlan =
  | (PlanBase & { kind: "stop"; stops: PruneStop[]; unverified: { key: string; reason: string }[] })
  | (PlanBase & {
      kind: "prune";
      keep: RetentionDecision[];
      remove: RetentionDecision[];
      danglingManifests: string[];
    });

function countStates(snapshot: PruneSnapshot): PruneCounts {
  const count = (state: string) => snapshot.checked.filter((b) => b.check.state === state).length;
  return {
    backups: snapshot.backups.length,
    verified: count("verified"),
    unverified: count("no-manifest") + count("bad-manifest"),
    future: count("future"),
  };
}

/** Rule 1: a dump dated in the future means a clock is wrong; nothing is deleted until it is explained. */
function futureStops(snapshot: PruneSnapshot): PruneStop[] {
  return snapshot.checked.flatMap((b) =>
    b.check.state === "future"
      ? [
          {
            resource: b.key,
            reason: `${b.check.reason}: a clock is wrong (here or where it was written); not counted as the newest, nothing deleted until it is explained`,
          },
        ]
      : [],
  );
}

/** Rules 2 and 3: no verified backup at all, or a newest verified backup older than the limit. */
function freshnessStop(snapshot: PruneSnapshot, settings: PruneSettings, now: Date, resource: string) {
  const { newest } = snapshot;
  if (!newest) {
    return {
      resource,
      reason: `no verified backup among ${plural(snapshot.backups.length, "dump")}: nothing deleted; check the backup job`,
    };
  }
  const ageMs = Math.max(0, now.getTime() - newest.backup.takenAt.getTime());
  const maxAgeMs = backupMaxAgeMinutes(settings) * 60_000;
  if (ageMs <= maxAgeMs) return undefined;
  return {
    resource,
    reason: `newest verified backup is ${describeSpan(ageMs)} old, older than the ${describeSpan(maxAgeMs)} limit: nothing deleted; check the backup job`,
    before: { newest: newest.backup.key },
  };
}

/** The unverified dumps, each with why, listed when no retention decision is made. */
function unverifiedList(snapshot: PruneSnapshot): { key: string; reason: string }[] {
  return snapshot.checked.flatMap((b) =>
    b.check.state === "no-manifest" || b.check.state === "bad-manifest"
      ? [{ key: b.key, reason: `unverified (${b.check.reason})` }]
      : [],
  );
}

/**
 * The prune rules for one database, in order (runbooks/prune-backups/prune-backups.md): a future-dated
 * dump stops it; no verified backup stops it; a newest verified backup past the age limit stops it; else
 * retention ({@link decideRetention}) keeps the daily, weekly and monthly slots, the newest verified
 * backup and unverified dumps in their grace period, and deletes the rest with manifests left without a
 * dump. Pure: table-tested without S3.
 */
export function planPrune(snapshot: PruneSnapshot, settings: PruneSettings, now: Date): PrunePlan {
  const resource = `${settings.id}/${snapshot.database}`;
  const newest = snapshot.newest;
  const base: PlanBase = {
    resource,
    database: snapshot.database,
    counts: countStates(snapshot),
    foreign: snapshot.foreign,
    ...(newest ? { ageSeconds: Math.round(Math.max(0, now.getTime() - newest.backup.takenAt.getTime()) / 1000) } : {}),
  };
  const future = futureStops(snapshot);
  if (future.length > 0) return { ...base, kind: "stop", stops: future, unverified: [] };
  const stale = freshnessStop(snapshot, settings, now, resource);
  if (stale) return { ...base, kind: "stop", stops: [stale], unverified: newest ? [] : unverifiedList(snapshot) };
  const backup = settings.backup;
  if (!backup) throw new Error(`internal: system "${settings.id}" has no backup section`);
  const decisions = decideRetention(snapshot.checked, { policy: backup.retention, timezone: settings.timezone, now });
  return {
    ...base,
    kind: "prune",
    keep: decisions.filter((d) => d.keep),
    remove: decisions.filter((d) => !d.keep),
    danglingManifests: snapshot.danglingManifests,
  };
}
