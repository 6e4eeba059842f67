import { ValidationError } from "./errors.js";
import { daysInMonth, fromLocal, type LocalDateTime, weekday } from "./timezone.js";

/**
 * EventBridge Scheduler schedule expressions: `cron(min hour day-of-month month day-of-week year)`,
 * `rate(N minutes|hours|days)` and `at(yyyy-mm-ddThh:mm:ss)`, parsed with the same rules AWS applies,
 * so that a bad expression fails in CI and `ops plan` shows the instants AWS will use.
 */
export type ScheduleExpression =
  | { kind: "cron"; source: string; matches: (local: LocalDateTime) => boolean; hours: number[]; minutes: number[] }
  | { kind: "rate"; source: string; everyMs: number }
  | { kind: "at"; source: string; local: LocalDateTime };

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const FIELDS = {
  minute: { name: "minutes", min: 0, max: 59 },
  hour: { name: "hours", min: 0, max: 23 },
  dayOfMonth: { name: "day-of-month", min: 1, max: 31 },
  month: { name: "month", min: 1, max: 12, names: MONTHS },
  dayOfWeek: { name: "day-of-week", min: 1, max: 7, names: DAYS },
  year: { name: "year", min: 1970, max: 2199 },
} satisfies Record<string, FieldSpec>;

function fail(source: string, message: string): never {
  throw new ValidationError(`invalid schedule expression "${source}": ${message}`);
}

function parseValue(token: string, spec: FieldSpec, source: string): number {
  const named = spec.names?.indexOf(token.toUpperCase()) ?? -1;
  const value = named >= 0 ? named + spec.min : /^\d+$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
    const allowed = spec.names ? ` or ${spec.names[0]}-${spec.names[spec.names.length - 1]}` : "";
    fail(source, `${spec.name} value "${token}" is not allowed; use ${spec.min}-${spec.max}${allowed}`);
  }
  return value;
}

/** Expands `*`, lists, ranges and steps of one field into the set of values it allows. */
function parseSet(field: string, spec: FieldSpec, source: string): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(",")) {
    const [range = "", stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) fail(source, `${spec.name} step "${stepText}" must be a positive integer`);
    const [from, to] = parseRange(range, stepText !== undefined, spec, source);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

/**
 * The first and last value of one range of a field: `*` is the whole field, `a-b` is checked for
 * direction, and a single value with a step (`5/10`) runs to the end of the field.
 */
function parseRange(range: string, stepped: boolean, spec: FieldSpec, source: string): [number, number] {
  if (range === "*") return [spec.min, spec.max];
  if (range.includes("-")) {
    const [a = "", b = ""] = range.split("-");
    const from = parseValue(a, spec, source);
    const to = parseValue(b, spec, source);
    if (to < from) fail(source, `${spec.name} range "${range}" runs backwards`);
    return [from, to];
  }
  const from = parseValue(range, spec, source);
  return [from, stepped ? spec.max : from];
}

type DayMatcher = (year: number, month: number, day: number) => boolean;

function nearestWeekday(year: number, month: number, target: number): number {
  const last = daysInMonth(year, month);
  const day = Math.min(target, last);
  const dow = weekday(year, month, day);
  if (dow === 6) return day === 1 ? 3 : day - 1;
  if (dow === 0) return day === last ? day - 2 : day + 1;
  return day;
}

function parseDayOfMonth(field: string, source: string): DayMatcher {
  if (field === "L") return (y, m, d) => d === daysInMonth(y, m);
  if (field === "LW") return (y, m, d) => d === nearestWeekday(y, m, daysInMonth(y, m));
  const w = /^(\d{1,2})W$/.exec(field);
  if (w) {
    const target = parseValue(w[1] ?? "", FIELDS.dayOfMonth, source);
    return (y, m, d) => d === nearestWeekday(y, m, target);
  }
  const set = parseSet(field, FIELDS.dayOfMonth, source);
  return (_y, _m, d) => set.has(d);
}

function parseDayOfWeek(field: string, source: string): DayMatcher {
  const nth = /^([A-Za-z]{3}|\d)#([1-5])$/.exec(field);
  if (nth) {
    const dow = parseValue(nth[1] ?? "", FIELDS.dayOfWeek, source) - 1;
    const n = Number(nth[2]);
    return (y, m, d) => weekday(y, m, d) === dow && Math.ceil(d / 7) === n;
  }
  const last = /^([A-Za-z]{3}|\d)?L$/.exec(field);
  if (last) {
    const dow = last[1] ? parseValue(last[1], FIELDS.dayOfWeek, source) - 1 : 6;
    return (y, m, d) => weekday(y, m, d) === dow && d + 7 > daysInMonth(y, m);
  }
  const set = parseSet(field, FIELDS.dayOfWeek, source);
  return (y, m, d) => set.has(weekday(y, m, d) + 1);
}

function parseCron(body: string, source: string): ScheduleExpression {
  const parts = body.trim().split(/\s+/);
  if (parts.length !== 6) {
    fail(source, `cron needs 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}`);
  }
  const [min = "", hour = "", dom = "", month = "", dow = "", year = ""] = parts;
  if ((dom === "?") === (dow === "?")) {
    fail(source, "exactly one of day-of-month and day-of-week must be '?'");
  }
  const minutes = [...parseSet(min, FIELDS.minute, source)].sort((a, b) => a - b);
  const hours = [...parseSet(hour, FIELDS.hour, source)].sort((a, b) => a - b);
  const months = parseSet(month, FIELDS.month, source);
  const years = parseSet(year, FIELDS.year, source);
  const dayMatches = dom === "?" ? parseDayOfWeek(dow, source) : parseDayOfMonth(dom, source);
  return {
    kind: "cron",
    source,
    hours,
    minutes,
    matches: (l) =>
      years.has(l.year) &&
      months.has(l.month) &&
      dayMatches(l.year, l.month, l.day) &&
      hours.includes(l.hour) &&
      minutes.includes(l.minute),
  };
}

const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Parses a schedule expression; throws {@link ValidationError} naming what is wrong and what is allowed. */
export function parseScheduleExpression(source: string): ScheduleExpression {
  const match = /^(cron|rate|at)\((.*)\)$/.exec(source.trim());
  if (!match) fail(source, "use cron(...), rate(...) or at(...)");
  const [, kind, body = ""] = match;
  if (kind === "cron") return parseCron(body, source);
  if (kind === "rate") {
    const rate = /^(\d+)\s+(minute|hour|day)s?$/.exec(body.trim());
    const value = Number(rate?.[1]);
    if (!rate || value < 1) fail(source, "rate needs a positive number and minutes, hours or days");
    const unit = RATE_UNITS[rate[2] ?? ""] ?? 0;
    return { kind: "rate", source, everyMs: value * unit };
  }
  const at = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body.trim());
  if (!at) fail(source, "at needs yyyy-mm-ddThh:mm:ss");
  const [, y, mo, d, h, mi] = at.map(Number);
  return { kind: "at", source, local: { year: y ?? 0, month: mo ?? 0, day: d ?? 0, hour: h ?? 0, minute: mi ?? 0 } };
}

/** Options of {@link nextRuns}. */
export interface NextRunsOptions {
  timezone: string;
  /** Runs strictly after this instant. */
  after: Date;
  /** Runs at or before this instant. */
  until: Date;
  /** Stop after this many runs. */
  limit?: number;
}

/**
 * The instants at which EventBridge Scheduler will fire a schedule in a window. Local times that a
 * DST change skips produce no run; a repeated local hour produces one run (the first).
 */
export function nextRuns(expression: ScheduleExpression, options: NextRunsOptions): Date[] {
  const { timezone, after, until } = options;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  if (expression.kind === "rate") return rateRuns(expression.everyMs, { after, until, limit });
  if (expression.kind === "at") {
    const at = fromLocal(expression.local, timezone);
    return at && at > after && at <= until ? [at] : [];
  }
  return cronRuns(expression, { timezone, after, until, limit });
}

interface RunWindow {
  after: Date;
  until: Date;
  limit: number;
}

function rateRuns(everyMs: number, { after, until, limit }: RunWindow): Date[] {
  const runs: Date[] = [];
  // A rate schedule without a start date starts when it is created; count from `after`.
  for (let t = after.getTime() + everyMs; t <= until.getTime() && runs.length < limit; t += everyMs) {
    runs.push(new Date(t));
  }
  return runs;
}

type CronExpression = Extract<ScheduleExpression, { kind: "cron" }>;

function cronRuns(
  expression: CronExpression,
  { timezone, after, until, limit }: RunWindow & { timezone: string },
): Date[] {
  const runs: Date[] = [];
  // Walk local calendar days from the day before `after` (zones ahead of UTC) to the day after `until`.
  const day = new Date(after.getTime() - 86_400_000);
  const end = until.getTime() + 86_400_000;
  for (; day.getTime() <= end && runs.length < limit; day.setUTCDate(day.getUTCDate() + 1)) {
    const date = { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate() };
    for (const instant of cronInstantsOnDay(expression, date, timezone)) {
      if (instant > after && instant <= until && runs.length < limit) runs.push(instant);
    }
  }
  return runs.sort((a, b) => a.getTime() - b.getTime());
}

/** The instants of one local calendar day the expression matches, in hour then minute order. */
function cronInstantsOnDay(
  expression: CronExpression,
  date: Pick<LocalDateTime, "year" | "month" | "day">,
  timezone: string,
): Date[] {
  const instants: Date[] = [];
  for (const hour of expression.hours) {
    for (const minute of expression.minutes) {
      const local = { ...date, hour, minute };
      if (!expression.matches(local)) continue;
      const instant = fromLocal(local, timezone);
      if (instant) instants.push(instant);
    }
  }
  return instants;
}
