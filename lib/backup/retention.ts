import { toLocal } from "../timezone.js";
import type { StoredBackup } from "./catalog.js";

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
  takenAt: Date;
  keep: boolean;
  reasons: string[];
}

/** Options of {@link decideRetention}. */
export interface DecideRetentionOptions {
  policy: RetentionPolicy;
  /** Zone whose calendar defines days, weeks and months (the system's). */
  timezone: string;
  now: Date;
  /** The newest verified backup's key: always kept. */
  newestVerifiedKey?: string | undefined;
  /** Dumps without a manifest younger than this are kept (they may still be getting their manifest). */
  orphanGraceMs?: number;
}

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

/**
 * Grandfather-father-son retention: the newest backup of each of the last `keepDaily` days,
 * `keepWeekly` ISO weeks and `keepMonthly` months that have backups (in the system's calendar), plus
 * the newest verified backup whatever the rules say. Dumps without a manifest are not backups: they
 * go once past the grace period. Pure, so it is tested over hundreds of synthetic backups.
 */
export function decideRetention(backups: StoredBackup[], options: DecideRetentionOptions): RetentionDecision[] {
  const grace = options.orphanGraceMs ?? 86_400_000;
  const decisions = new Map<string, RetentionDecision>();
  for (const b of backups) {
    decisions.set(b.key, {
      key: b.key,
      ...(b.manifestKey ? { manifestKey: b.manifestKey } : {}),
      takenAt: b.takenAt,
      keep: false,
      reasons: [],
    });
  }
  const complete = backups.filter((b) => b.manifestKey).sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  const rules: [string, number, (l: ReturnType<typeof toLocal>) => string][] = [
    ["daily", options.policy.keepDaily, (l) => `${l.year}-${pad(l.month)}-${pad(l.day)}`],
    ["weekly", options.policy.keepWeekly, (l) => isoWeek(l.year, l.month, l.day)],
    ["monthly", options.policy.keepMonthly, (l) => `${l.year}-${pad(l.month)}`],
  ];
  for (const [label, count, period] of rules) {
    const seen = new Set<string>();
    for (const b of complete) {
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
  const newestVerifiedAt = options.newestVerifiedKey ? decisions.get(options.newestVerifiedKey)?.takenAt : undefined;
  for (const d of decisions.values()) {
    if (d.key === options.newestVerifiedKey) {
      d.keep = true;
      d.reasons.unshift("newest verified backup");
    } else if (!d.manifestKey) {
      const young = options.now.getTime() - d.takenAt.getTime() < grace;
      d.keep = young;
      d.reasons.push(young ? "no manifest yet (may still be finishing)" : "no manifest: not a backup");
    } else if (!d.keep && (!newestVerifiedAt || d.takenAt >= newestVerifiedAt)) {
      // Nothing goes unless something newer and verified exists.
      d.keep = true;
      d.reasons.push("no newer verified backup exists");
    } else if (!d.keep) {
      d.reasons.push("outside every retention period");
    }
  }
  return [...decisions.values()].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime());
}
