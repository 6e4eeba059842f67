import { toLocal } from "../../lib/timezone.js";
import type { BackupCheck, CheckedBackup } from "./catalog.js";

/** How many periods of each kind to keep. */
export interface RetentionPolicy {
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
}

/** The decision for one dump, with the reason a person reads in a dry run. */
export interface RetentionDecision {
  key: string;
  manifestKey?: string;
  /** A directory backup's file keys: deleted with it, never one without the others. */
  files?: string[];
  takenAt: Date;
  /** What the dump's check found (`verified`, `no-manifest`, `bad-manifest`, `future`). */
  state: BackupCheck["state"];
  keep: boolean;
  reasons: string[];
}

/** Options of {@link decideRetention}. */
export interface DecideRetentionOptions {
  policy: RetentionPolicy;
  /** Zone whose calendar defines days, weeks and months (the system's). */
  timezone: string;
  now: Date;
  /** Dumps without a manifest younger than this are kept (default a day: they may still be getting it). */
  orphanGraceMs?: number;
  /** Dumps whose manifest does not verify are kept this long (default 7 days) for a person to look. */
  unverifiedGraceMs?: number;
}

/** A day: the window in which a finished dump's manifest, written right after it, must have appeared. */
export const ORPHAN_GRACE_MS = 86_400_000;
/**
 * A week: a manifest that exists but does not verify is unexplained (something wrote or changed it),
 * so the dump stays long enough for the daily partial reports to reach a person across a weekend.
 */
export const UNVERIFIED_GRACE_MS = 7 * 86_400_000;

const pad = (n: number) => String(n).padStart(2, "0");

/** ISO week label (`2026-W47`) of a local calendar date. */
function isoWeek(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const dow = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - dow);
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${pad(week)}`;
}

/** Fills the daily, weekly and monthly slots with verified backups only, newest first. */
function fillSlots(
  verified: CheckedBackup[],
  decisions: Map<string, RetentionDecision>,
  options: DecideRetentionOptions,
): void {
  const rules: [string, number, (l: ReturnType<typeof toLocal>) => string][] = [
    ["daily", options.policy.keepDaily, (l) => `${l.year}-${pad(l.month)}-${pad(l.day)}`],
    ["weekly", options.policy.keepWeekly, (l) => isoWeek(l.year, l.month, l.day)],
    ["monthly", options.policy.keepMonthly, (l) => `${l.year}-${pad(l.month)}`],
  ];
  for (const [label, count, period] of rules) {
    const seen = new Set<string>();
    for (const b of verified) {
      if (seen.size >= count) break;
      const p = period(toLocal(b.takenAt, options.timezone));
      if (seen.has(p)) continue;
      seen.add(p);
      const d = decisions.get(b.key);
      if (d) {
        d.keep = true;
        d.reasons.push(`${label} ${p}`);
      }
    }
  }
}

/** An unverified dump stays while young, or while nothing newer is verified; the reason says which. */
function judgeUnverified(
  d: RetentionDecision,
  why: string,
  options: DecideRetentionOptions & { newestVerifiedAt: Date | undefined },
): void {
  const grace =
    d.state === "no-manifest"
      ? (options.orphanGraceMs ?? ORPHAN_GRACE_MS)
      : (options.unverifiedGraceMs ?? UNVERIFIED_GRACE_MS);
  const until = new Date(d.takenAt.getTime() + grace);
  if (until > options.now) {
    d.keep = true;
    d.reasons.push(`unverified (${why}): not counted, kept until ${until.toISOString()}`);
  } else if (!options.newestVerifiedAt || d.takenAt >= options.newestVerifiedAt) {
    d.keep = true;
    d.reasons.push(`unverified (${why}): not counted, kept while no newer verified backup exists`);
  } else {
    d.reasons.push(`unverified (${why}) since ${until.toISOString()}: not a backup`);
  }
}

/** A dump's decision before any rule: not kept, no reasons; a directory backup's files go with it. */
function undecided(b: CheckedBackup): RetentionDecision {
  return {
    key: b.key,
    ...(b.manifestKey ? { manifestKey: b.manifestKey } : {}),
    ...(b.files ? { files: b.files.map((f) => f.key) } : {}),
    takenAt: b.takenAt,
    state: b.check.state,
    keep: false,
    reasons: [],
  };
}

/**
 * Grandfather-father-son retention: the newest verified backup of each of the last `keepDaily` days,
 * `keepWeekly` ISO weeks and `keepMonthly` months that have verified backups (in the system's calendar),
 * plus the newest verified backup whatever the rules say. Only verified backups fill a slot: a dump
 * whose manifest is missing or wrong would otherwise take the day of the good one beside it. Unverified
 * dumps are kept for their grace period (and while nothing newer is verified), then go; dumps dated in
 * the future are always kept. Pure, so it is tested over hundreds of synthetic backups.
 */
export function decideRetention(backups: CheckedBackup[], options: DecideRetentionOptions): RetentionDecision[] {
  const decisions = new Map(backups.map((b) => [b.key, undecided(b)]));
  const verified = backups
    .filter((b) => b.check.state === "verified")
    .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  fillSlots(verified, decisions, options);
  const newestVerified = verified[0];
  for (const b of backups) {
    const d = decisions.get(b.key);
    if (!d) continue;
    if (b.check.state === "future") {
      d.keep = true;
      d.reasons.push(`dated in the future (${b.check.reason}): not counted`);
    } else if (b.check.state !== "verified") {
      judgeUnverified(d, b.check.reason, { ...options, newestVerifiedAt: newestVerified?.takenAt });
    } else if (b.key === newestVerified?.key) {
      d.keep = true;
      d.reasons.unshift("newest verified backup");
    } else if (!d.keep) {
      d.reasons.push("outside every retention period");
    }
  }
  return [...decisions.values()].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime());
}
