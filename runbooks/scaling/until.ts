import { ValidationError } from "../../lib/errors.js";
import { formatLocal, fromLocal, type LocalDateTime, toLocal } from "../../lib/timezone.js";
import { parseInstant } from "./tags.js";

/** The forms `until=` accepts, for error messages. */
export const UNTIL_FORMS =
  "HH:MM (the next time the system's clock shows it), YYYY-MM-DDTHH:MM (system's local time), " +
  "an ISO instant with Z or an offset (2026-11-21T20:00:00Z), or a duration (90m, 3h, 2h30m)";

type UntilForm =
  | { kind: "time"; hour: number; minute: number }
  | { kind: "local"; local: LocalDateTime }
  | { kind: "instant"; at: Date }
  | { kind: "duration"; minutes: number };

function classify(text: string): UntilForm | undefined {
  const t = text.trim();
  const time = /^(\d{1,2}):(\d{2})$/.exec(t);
  if (time) {
    const hour = Number(time[1]);
    const minute = Number(time[2]);
    return hour < 24 && minute < 60 ? { kind: "time", hour, minute } : undefined;
  }
  const local = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})$/.exec(t);
  if (local) {
    const [year, month, day, hour, minute] = local.slice(1).map(Number) as [number, number, number, number, number];
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59) return undefined;
    return { kind: "local", local: { year, month, day, hour, minute } };
  }
  const at = parseInstant(t);
  if (at) return { kind: "instant", at };
  const duration = /^(?:(\d{1,4})h)?(?:(\d{1,5})m)?$/.exec(t);
  if (duration && (duration[1] || duration[2])) {
    return { kind: "duration", minutes: Number(duration[1] ?? 0) * 60 + Number(duration[2] ?? 0) };
  }
  return undefined;
}

/** A message saying what is wrong with the shape of an `until=` value, or `undefined` when it is fine. */
export function untilSyntaxProblem(text: string): string | undefined {
  return classify(text) ? undefined : `"${text}" is not a time; use ${UNTIL_FORMS}`;
}

/** Options of {@link resolveUntil}. */
export interface ResolveUntilOptions {
  timezone: string;
  now: Date;
  /** Furthest ahead a keep-awake may reach: a typo such as 2062 must not keep a service up for decades. */
  maxDays?: number;
}

/**
 * Turns an `until=` value into an instant, reading local forms in the system's zone. Throws
 * {@link ValidationError} for a past time, a time beyond `maxDays` (default 14), or a local time that a
 * DST change skips.
 */
export function resolveUntil(text: string, options: ResolveUntilOptions): Date {
  const { timezone, now } = options;
  const maxDays = options.maxDays ?? 14;
  const form = classify(text);
  if (!form) throw new ValidationError(`until: "${text}" is not a time; use ${UNTIL_FORMS}`);
  let until: Date | undefined;
  switch (form.kind) {
    case "instant":
      until = form.at;
      break;
    case "duration":
      until = new Date(now.getTime() + form.minutes * 60_000);
      break;
    case "local":
      until = fromLocal(form.local, timezone);
      if (!until) throw new ValidationError(`until: ${text} does not exist in ${timezone} (skipped by a DST change)`);
      break;
    case "time": {
      const today = toLocal(now, timezone);
      // Today if that time is still ahead, else tomorrow: "until 07:00" said at 22:00 means tomorrow morning.
      for (const offset of [0, 1]) {
        const day = new Date(Date.UTC(today.year, today.month - 1, today.day + offset));
        const candidate = fromLocal(
          {
            year: day.getUTCFullYear(),
            month: day.getUTCMonth() + 1,
            day: day.getUTCDate(),
            hour: form.hour,
            minute: form.minute,
          },
          timezone,
        );
        if (candidate && candidate.getTime() > now.getTime()) {
          until = candidate;
          break;
        }
      }
      if (!until)
        throw new ValidationError(`until: ${text} does not occur in ${timezone} in the next day (DST change)`);
      break;
    }
  }
  if (until.getTime() <= now.getTime()) {
    throw new ValidationError(
      `until: ${formatLocal(until, timezone)} is not in the future (now ${formatLocal(now, timezone)})`,
    );
  }
  if (until.getTime() > now.getTime() + maxDays * 86_400_000) {
    throw new ValidationError(
      `until: ${formatLocal(until, timezone)} is more than ${maxDays} days ahead; opt the service out instead (tag it)`,
    );
  }
  return until;
}
