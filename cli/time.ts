import { ValidationError } from "../lib/errors.js";
import { fromLocal } from "../lib/timezone.js";

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/;
const AGO = /^(\d+)(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A time given on the command line (`--at`, `--since`): an ISO 8601 instant with its zone
 * (`2026-12-01T09:30Z`, `…+02:00`), a wall-clock time in the system's zone (`2026-12-01 11:30`, or a
 * date for its midnight), or a span back from now (`90m`, `24h`, `7d`). Anything else names the forms.
 */
export function parseTimeOption(option: string, value: string, options: { timezone: string; now: Date }): Date {
  const allowed = `an ISO time with zone (2026-12-01T09:30Z), a time in ${options.timezone} (2026-12-01 11:30, or a date), or a span back from now (90m, 24h, 7d)`;
  const ago = AGO.exec(value);
  if (ago) return new Date(options.now.getTime() - Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS]);
  const local = LOCAL.exec(value);
  if (local) {
    const [, y, mo, d, h = "00", mi = "00", s = "00"] = local;
    const at = fromLocal(
      { year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi) },
      options.timezone,
    );
    // fromLocal finds no instant for an impossible or skipped wall-clock time (2026-02-30, 25:00).
    if (!at || Number(s) > 59) {
      throw new ValidationError(
        `--${option} "${value}" is not a time that exists in ${options.timezone}; use ${allowed}`,
      );
    }
    return new Date(at.getTime() + Number(s) * 1000);
  }
  if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/i.test(value)) {
    const at = new Date(value);
    if (!Number.isNaN(at.getTime())) return at;
  }
  throw new ValidationError(`--${option} "${value}" is not a time; use ${allowed}`);
}
