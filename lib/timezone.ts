/**
 * Wall-clock arithmetic in IANA time zones with nothing but `Intl`: schedules are written in each
 * system's local time, and the planner must show the same instants EventBridge Scheduler will use.
 */

/** A local wall-clock time; month is 1-12. */
export interface LocalDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let cached = formatters.get(timeZone);
  if (!cached) {
    cached = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, cached);
  }
  return cached;
}

/** True when the runtime knows this IANA zone (e.g. `Africa/Johannesburg`; not `Mars/Base`). */
export function isValidTimeZone(timeZone: string): boolean {
  if (!timeZone.includes("/") && timeZone !== "UTC") return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock fields of an instant in a zone. */
export function toLocal(instant: Date, timeZone: string): LocalDateTime & { second: number } {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(instant)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year ?? 0,
    month: parts.month ?? 0,
    day: parts.day ?? 0,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

/** Offset of the zone from UTC at an instant, in minutes (SAST: +120). */
export function offsetMinutes(instant: Date, timeZone: string): number {
  const local = toLocal(instant, timeZone);
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  return Math.round((asUtc - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

function sameWallClock(a: LocalDateTime, b: LocalDateTime): boolean {
  return a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute;
}

/**
 * The instant at which a zone's clocks show `local`. Returns `undefined` for a time that does not
 * exist (skipped by a spring-forward change) and the earlier instant for one that occurs twice —
 * the same choices EventBridge Scheduler makes (a skipped run is skipped, a repeated hour runs once).
 */
export function fromLocal(local: LocalDateTime, timeZone: string): Date | undefined {
  const naive = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
  const candidates = new Set<number>();
  // The true offset is one of the offsets in force a day either side of the naive guess.
  for (const probe of [naive - 86_400_000, naive, naive + 86_400_000]) {
    candidates.add(naive - offsetMinutes(new Date(probe), timeZone) * 60_000);
  }
  const matches = [...candidates].filter((t) => sameWallClock(toLocal(new Date(t), timeZone), local));
  if (matches.length === 0) return undefined;
  return new Date(Math.min(...matches));
}

/** `2026-11-21 18:00 +02:00`: a local time with its offset, for people. */
export function formatLocal(instant: Date, timeZone: string): string {
  const l = toLocal(instant, timeZone);
  const offset = offsetMinutes(instant, timeZone);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${l.year}-${pad(l.month)}-${pad(l.day)} ${pad(l.hour)}:${pad(l.minute)} ${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Day of week of a calendar date: 0 = Sunday ... 6 = Saturday. */
export function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/** Number of days in a month (month 1-12). */
export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
