import { describe, expect, it } from "vitest";
import { nextRuns, parseScheduleExpression } from "../../lib/cron.js";
import { ValidationError } from "../../lib/errors.js";
import { formatLocal, fromLocal, isValidTimeZone } from "../../lib/timezone.js";

const runs = (expr: string, timezone: string, from: string, days: number) =>
  nextRuns(parseScheduleExpression(expr), {
    timezone,
    after: new Date(from),
    until: new Date(new Date(from).getTime() + days * 86_400_000),
  }).map((d) => d.toISOString());

describe("schedule expressions", () => {
  it.each([
    ["cron(0 3 * * ? *)", "cron"],
    ["cron(0 18 ? * MON-FRI *)", "cron"],
    ["cron(15 10 ? * 6L 2027)", "cron"],
    ["cron(0 9 ? * 2#1 *)", "cron"],
    ["cron(0 12 LW * ? *)", "cron"],
    ["rate(5 minutes)", "rate"],
    ["at(2026-12-01T10:00:00)", "at"],
  ])("parses %s", (expr, kind) => {
    expect(parseScheduleExpression(expr).kind).toBe(kind);
  });

  it.each([
    ["cron(0 3 * * *)", /6 fields/],
    ["cron(0 3 * * * *)", /exactly one of day-of-month and day-of-week/],
    ["cron(0 3 ? * ? *)", /exactly one of day-of-month and day-of-week/],
    ["cron(60 3 * * ? *)", /minutes value "60" is not allowed; use 0-59/],
    ["cron(0 24 * * ? *)", /hours value "24"/],
    ["cron(0 3 ? * FUNDAY *)", /day-of-week value "FUNDAY" is not allowed; use 1-7 or SUN-SAT/],
    ["rate(0 minutes)", /positive number/],
    ["every day", /use cron\(\.\.\.\), rate\(\.\.\.\) or at\(\.\.\.\)/],
  ])("rejects %s with a message saying what is allowed", (expr, message) => {
    expect(() => parseScheduleExpression(expr)).toThrow(ValidationError);
    expect(() => parseScheduleExpression(expr)).toThrow(message);
  });
});

describe("next runs in a time zone", () => {
  it("Africa/Johannesburg has no DST: 18:00 local is always 16:00 UTC", () => {
    expect(runs("cron(0 18 * * ? *)", "Africa/Johannesburg", "2026-03-27T00:00:00Z", 3)).toEqual([
      "2026-03-27T16:00:00.000Z",
      "2026-03-28T16:00:00.000Z",
      "2026-03-29T16:00:00.000Z",
    ]);
  });

  it("America/New_York: the same local time moves in UTC across the spring change", () => {
    expect(runs("cron(0 7 * * ? *)", "America/New_York", "2026-03-07T00:00:00Z", 3)).toEqual([
      "2026-03-07T12:00:00.000Z", // EST, UTC-5
      "2026-03-08T11:00:00.000Z", // EDT from 02:00 on 8 March, UTC-4
      "2026-03-09T11:00:00.000Z",
    ]);
  });

  it("a local time skipped by spring-forward does not run that day (as EventBridge Scheduler does)", () => {
    expect(runs("cron(30 2 * * ? *)", "America/New_York", "2026-03-07T00:00:00Z", 3)).toEqual([
      "2026-03-07T07:30:00.000Z",
      "2026-03-09T06:30:00.000Z",
    ]);
  });

  it("a local time repeated by fall-back runs once, at its first occurrence", () => {
    expect(runs("cron(30 1 * * ? *)", "America/New_York", "2026-10-31T12:00:00Z", 2)).toEqual([
      "2026-11-01T05:30:00.000Z", // 01:30 EDT, not again at 01:30 EST (06:30Z)
      "2026-11-02T06:30:00.000Z",
    ]);
  });

  it("day-of-week numbering is AWS's (1 = Sunday) and nth / last weekdays work", () => {
    // 2026-11: Sundays are 1, 8, 15, 22, 29; Fridays 6, 13, 20, 27.
    expect(runs("cron(0 12 ? * 1 *)", "UTC", "2026-11-01T00:00:00Z", 10).map((d) => d.slice(0, 10))).toEqual([
      "2026-11-01",
      "2026-11-08",
    ]);
    expect(runs("cron(0 12 ? * 6L *)", "UTC", "2026-11-01T00:00:00Z", 30).map((d) => d.slice(0, 10))).toEqual([
      "2026-11-27",
    ]);
    expect(runs("cron(0 12 ? * MON#2 *)", "UTC", "2026-11-01T00:00:00Z", 30).map((d) => d.slice(0, 10))).toEqual([
      "2026-11-09",
    ]);
    // 2026-02-28 is a Saturday: the last weekday of February is Friday 27th.
    expect(runs("cron(0 12 LW * ? *)", "UTC", "2026-02-01T00:00:00Z", 28).map((d) => d.slice(0, 10))).toEqual([
      "2026-02-27",
    ]);
  });

  it("rate schedules count from the start of the window", () => {
    expect(runs("rate(12 hours)", "UTC", "2026-01-01T00:00:00Z", 1)).toEqual([
      "2026-01-01T12:00:00.000Z",
      "2026-01-02T00:00:00.000Z",
    ]);
  });
});

describe("time zones", () => {
  it("knows real IANA zones and rejects invented ones", () => {
    expect(isValidTimeZone("Africa/Johannesburg")).toBe(true);
    expect(isValidTimeZone("UTC")).toBe(true);
    expect(isValidTimeZone("Mars/Base")).toBe(false);
    expect(isValidTimeZone("EST5EDT-ish")).toBe(false);
  });

  it("formats local time with its offset and converts back", () => {
    const instant = fromLocal({ year: 2026, month: 7, day: 1, hour: 7, minute: 0 }, "America/New_York");
    expect(instant?.toISOString()).toBe("2026-07-01T11:00:00.000Z");
    expect(formatLocal(new Date("2026-07-01T11:00:00Z"), "America/New_York")).toBe("2026-07-01 07:00 -04:00");
    expect(formatLocal(new Date("2026-07-01T11:00:00Z"), "Asia/Kolkata")).toBe("2026-07-01 16:30 +05:30");
  });
});
