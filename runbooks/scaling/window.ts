import { ValidationError } from "../../lib/errors.js";
import { plural } from "../../lib/text.js";
import { toLocal, weekday } from "../../lib/timezone.js";
import type { System } from "../../systems/schema.js";

/** The off-hours section of a system when the policy is on. */
export type OffHoursPolicy = Extract<System["offHours"], { enabled: true }>;

/** The fields schedule derivation needs; `weekendsOff` may be absent in a catalogue as written. */
export interface WindowSpec {
  start: string;
  end: string;
  weekendsOff?: boolean | undefined;
}

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** `18:30` → 1110. The catalogue schema has already checked the HH:MM shape. */
export function minutesOfDay(hhmm: string): number {
  const match = /^(\d{2}):(\d{2})$/.exec(hhmm);
  if (!match) throw new ValidationError(`"${hhmm}" is not a 24-hour time HH:MM`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Whether an instant falls in the off-hours state, and why. */
export interface OffHoursState {
  off: boolean;
  why: "holiday" | "weekend" | "window" | "business-hours";
  /** Local calendar date, `YYYY-MM-DD`. */
  localDate: string;
  /** Local wall-clock time with the day, e.g. `Saturday 12:00`, for reasons people read. */
  localTime: string;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Whether a local minute of the day is inside the daily window (start inclusive, end exclusive). */
function inDailyWindow(minute: number, start: number, end: number): boolean {
  if (start === end) return false;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

/**
 * The off-hours state at an instant, in the system's zone: all day on a holiday, all day on Saturday and
 * Sunday when `weekendsOff`, otherwise between `start` and `end` (a window that crosses midnight wraps).
 */
export function offHoursState(policy: OffHoursPolicy, timezone: string, at: Date): OffHoursState {
  const local = toLocal(at, timezone);
  const localDate = `${local.year}-${pad(local.month)}-${pad(local.day)}`;
  const dow = weekday(local.year, local.month, local.day);
  const localTime = `${DAY_NAMES[dow]} ${pad(local.hour)}:${pad(local.minute)}`;
  if (policy.holidays.includes(localDate)) return { off: true, why: "holiday", localDate, localTime };
  if (policy.weekendsOff && (dow === 0 || dow === 6)) return { off: true, why: "weekend", localDate, localTime };
  const minute = local.hour * 60 + local.minute;
  const off = inDailyWindow(minute, minutesOfDay(policy.start), minutesOfDay(policy.end));
  return { off, why: off ? "window" : "business-hours", localDate, localTime };
}

/** `18:00–07:00 Africa/Johannesburg, weekends off, 2 holidays`: the policy in one phrase. */
export function describePolicy(policy: OffHoursPolicy, timezone: string): string {
  const parts = [`${policy.start}–${policy.end} ${timezone}`];
  if (policy.weekendsOff) parts.push("weekends off");
  if (policy.holidays.length > 0) parts.push(plural(policy.holidays.length, "holiday"));
  return parts.join(", ");
}

/** Length of one weekday night (start to end), in hours; wall-clock, so a DST night counts as usual. */
export function nightHours(policy: WindowSpec): number {
  const start = minutesOfDay(policy.start);
  const end = minutesOfDay(policy.end);
  return ((end - start + 1440) % 1440) / 60;
}

/**
 * Off-hours in a typical week, in hours: the daily window on each weekday, plus whole Saturdays and
 * Sundays when `weekendsOff`. Holidays are left out (an estimate should not count on them).
 */
export function weeklyOffHours(policy: WindowSpec): number {
  const start = minutesOfDay(policy.start);
  const end = minutesOfDay(policy.end);
  const daily = start === end ? 0 : start < end ? end - start : 1440 - start + end;
  const weekendDays = policy.weekendsOff ? 2 : 0;
  return ((7 - weekendDays) * daily + weekendDays * 1440) / 60;
}

/**
 * The two EventBridge Scheduler expressions of a policy, evaluated in the system's zone: scale-down every
 * day at `start` (on weekend days it is a harmless catch-up for services skipped the evening before), and
 * scale-up at `end`, Monday to Friday only when `weekendsOff`. Holidays are not in the cron: the scale-up
 * runbook sees the holiday and leaves the services down.
 */
export function offHoursCrons(policy: WindowSpec): { scaleDown: string; scaleUp: string } {
  const start = minutesOfDay(policy.start);
  const end = minutesOfDay(policy.end);
  if (start === end) {
    throw new ValidationError(
      `off-hours start and end are both ${policy.start}: the window would be empty (or all day); set different times`,
    );
  }
  const at = (minutes: number, days: string) =>
    days === "*"
      ? `cron(${minutes % 60} ${Math.floor(minutes / 60)} * * ? *)`
      : `cron(${minutes % 60} ${Math.floor(minutes / 60)} ? * ${days} *)`;
  return { scaleDown: at(start, "*"), scaleUp: at(end, policy.weekendsOff ? "MON-FRI" : "*") };
}

/**
 * The state a run acts for is the one `WINDOW_LEAD_MINUTES` ahead of its clock: a schedule fires within
 * the minute, but a clock a moment early at 06:59:59 must not read as "still off-hours" and leave the
 * services down all day. Late deliveries (EventBridge retries for hours) land outside and change nothing.
 */
export const WINDOW_LEAD_MINUTES = 5;

/**
 * The state a run decides on, with two clocks kept apart: `off` and `why` are the state as of `now` plus
 * {@link WINDOW_LEAD_MINUTES}, while `localDate` and `localTime` stay the real local time of `now` (a
 * report that says "it is 08:38" at 08:33 misleads whoever reads it). `decidedFor` names the instant
 * the decision looked at.
 */
export interface RunWindowState extends OffHoursState {
  /** Local wall-clock time (with the day) the decision was made for, e.g. `Monday 08:38` at 08:33. */
  decidedFor: string;
  /** Local calendar date of `decidedFor` (a holiday or weekend is judged on that day). */
  decidedForDate: string;
}

/** {@link offHoursState} as of `now` plus {@link WINDOW_LEAD_MINUTES}, reported at the real `now`. */
export function stateForRun(policy: OffHoursPolicy, timezone: string, now: Date): RunWindowState {
  const ahead = offHoursState(policy, timezone, new Date(now.getTime() + WINDOW_LEAD_MINUTES * 60_000));
  const current = offHoursState(policy, timezone, now);
  return {
    off: ahead.off,
    why: ahead.why,
    localDate: current.localDate,
    localTime: current.localTime,
    decidedFor: ahead.localTime,
    decidedForDate: ahead.localDate,
  };
}

/**
 * When the off-hours period in force at `now` (or, in business hours, the next one) ends: the first
 * minute at which the state turns back to business hours, weekends and holidays included. `undefined`
 * when it does not end within `maxDays` (every day a holiday, say).
 */
export function offHoursEnd(policy: OffHoursPolicy, timezone: string, now: Date, maxDays = 14): Date | undefined {
  // Quarter-hour steps find the period; whole-minute steps then find its exact end (boundaries are HH:MM).
  const step = 15 * 60_000;
  const limit = now.getTime() + maxDays * 86_400_000;
  const isOff = (t: number) => offHoursState(policy, timezone, new Date(t)).off;
  let t = Math.ceil(now.getTime() / 60_000) * 60_000;
  while (t <= limit && !isOff(t)) t += step;
  while (t <= limit && isOff(t)) t += step;
  if (t > limit) return undefined;
  let end = t - step + 60_000;
  while (end < t && isOff(end)) end += 60_000;
  return new Date(end);
}

/** Whether the off-hours period in force at `since` (or, in business hours, the next one) has ended by `now`. */
export function offHoursEndedBy(policy: OffHoursPolicy, timezone: string, since: Date, now: Date): boolean {
  const end = offHoursEnd(policy, timezone, since);
  return end !== undefined && end.getTime() <= now.getTime();
}
