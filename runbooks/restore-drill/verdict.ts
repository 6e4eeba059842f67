/**
 * RTO and RPO verdicts: a measured duration against a target, met or missed, with the margin (target −
 * measured: positive = time to spare, negative = by how much it was missed).
 */

/** One verdict of a drill. */
export interface Verdict {
  objective: "RTO" | "RPO";
  verdict: "met" | "missed";
  targetMs: number;
  /** Undefined when there is nothing to measure (the restore failed: the system was not recovered). */
  measuredMs?: number;
  /** target − measured; undefined with `measuredMs`. */
  marginMs?: number;
  /** Why a verdict is what it is, when the numbers alone do not say. */
  note?: string;
}

/** Options of {@link judge}. */
export interface JudgeOptions {
  objective: Verdict["objective"];
  targetMinutes: number;
  measuredMs?: number;
  note?: string;
}

/** Met when measured ≤ target; missed when over, or when nothing could be measured. */
export function judge(options: JudgeOptions): Verdict {
  const targetMs = Math.round(options.targetMinutes * 60_000);
  const base = { objective: options.objective, targetMs, ...(options.note ? { note: options.note } : {}) };
  if (options.measuredMs === undefined || !Number.isFinite(options.measuredMs)) {
    return { ...base, verdict: "missed" };
  }
  const measuredMs = Math.max(0, Math.round(options.measuredMs));
  return {
    ...base,
    verdict: measuredMs <= targetMs ? "met" : "missed",
    measuredMs,
    marginMs: targetMs - measuredMs,
  };
}

/** `2h05m`, `4m10s`, `12.3s`, `850ms`: short, for one-line summaries. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  const sign = ms < 0 ? "-" : "";
  if (abs < 1000) return `${sign}${Math.round(abs)}ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)}s`;
  const totalSeconds = Math.round(abs / 1000);
  // Hours up to two days (an RPO of 24 h reads "26h00m of 24 h"), days beyond.
  const totalHours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (totalHours >= 48) return `${sign}${Math.floor(totalHours / 24)}d${String(totalHours % 24).padStart(2, "0")}h`;
  const hours = totalHours;
  if (hours > 0) return `${sign}${hours}h${String(minutes).padStart(2, "0")}m`;
  return `${sign}${minutes}m${String(seconds).padStart(2, "0")}s`;
}

/** `30 min`, `24 h`: a target as the guides write it. */
export function formatTarget(ms: number): string {
  const minutes = ms / 60_000;
  if (minutes >= 120 && minutes % 60 === 0) return `${minutes / 60} h`;
  return `${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} min`;
}

/** `RTO met: 4m10s of 30 min (margin 25m50s)` / `RPO missed: 26h00m of 24 h (over by 2h00m)`. */
export function formatVerdict(v: Verdict): string {
  if (v.measuredMs === undefined || v.marginMs === undefined) {
    return `${v.objective} ${v.verdict}: not measured (target ${formatTarget(v.targetMs)})${v.note ? ` — ${v.note}` : ""}`;
  }
  const margin = v.marginMs >= 0 ? `margin ${formatDuration(v.marginMs)}` : `over by ${formatDuration(-v.marginMs)}`;
  return `${v.objective} ${v.verdict}: ${formatDuration(v.measuredMs)} of ${formatTarget(v.targetMs)} (${margin})`;
}

/**
 * The shortest interval at which pg_dump backups are realistically taken (the backup runbook refuses
 * to run more often than hourly by default, and the guides schedule them daily). An RPO below it can
 * only be proven by RDS point-in-time restore.
 */
export const PG_DUMP_MIN_INTERVAL_MINUTES = 60;

/**
 * A warning when a system's drill source cannot prove its RPO at all, whatever a single drill
 * measures: pg_dump backups are taken daily (hourly at best), so an RPO of minutes needs `rds-pitr`.
 */
export function rpoSourceWarning(dr: { rpoMinutes: number; drillSource: string }): string | undefined {
  if (dr.drillSource !== "pg_dump" || dr.rpoMinutes >= PG_DUMP_MIN_INTERVAL_MINUTES) return undefined;
  return (
    `RPO target ${dr.rpoMinutes} min cannot be met by pg_dump backups (taken daily, hourly at best): ` +
    "a pg_dump drill cannot prove it; set dr.drillSource to rds-pitr"
  );
}
