import { describe, expect, it } from "vitest";
import {
  type ChartPoint,
  linearTrend,
  renderDrillChart,
  timeTicks,
  trendAbsence,
} from "../../runbooks/restore-drill/chart.js";

const day = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 86_400_000);

describe("restore-time trend", () => {
  it("fits a line and finds the date it reaches the RTO", () => {
    // 10 min, then +1 min a week: 30 min is reached 20 weeks after the first drill.
    const points: ChartPoint[] = [0, 1, 2, 3].map((w) => ({
      at: day(7 * w),
      restoreMinutes: 10 + w,
      outcome: "passed",
    }));
    const trend = linearTrend(points, 30);
    expect(trend?.slopePerDay).toBeCloseTo(1 / 7, 6);
    expect(trend?.crossing?.toISOString().slice(0, 10)).toBe(day(140).toISOString().slice(0, 10));
    expect(trend?.note).toMatch(/would be missed around 2026-05-21 if the trend holds/);
  });

  it("has no crossing when restore time is flat or falling", () => {
    const points: ChartPoint[] = [12, 11, 11.5, 10].map((m, i) => ({
      at: day(7 * i),
      restoreMinutes: m,
      outcome: "passed",
    }));
    const trend = linearTrend(points, 30);
    expect(trend?.crossing).toBeUndefined();
    expect(trend?.note).toMatch(/flat or improving/);
  });

  it("does not crash when the rise is so slow that the crossing is beyond any date", () => {
    // 1 ms slower after a year: a crossing hundreds of millions of days out.
    const slow: ChartPoint[] = [0, 182, 365].map((d, i) => ({
      at: day(d),
      restoreMinutes: (252_000 + i) / 60_000,
      outcome: "passed",
    }));
    const trend = linearTrend(slow, 30);
    expect(trend?.crossing).toBeUndefined();
    expect(trend?.note).toMatch(/rising too slowly to reach the RTO/);
    expect(renderDrillChart({ title: "t", rtoMinutes: 30, points: slow, ...(trend ? { trend } : {}) })).toContain(
      'class="trend"',
    );
    const above = linearTrend(
      slow.map((p) => ({ ...p, restoreMinutes: (p.restoreMinutes ?? 0) + 60 })),
      30,
    );
    expect(above?.note).toMatch(/already above the RTO/);
  });

  it("says when the trend is already above the RTO", () => {
    const points: ChartPoint[] = [28, 31, 34].map((m, i) => ({ at: day(7 * i), restoreMinutes: m, outcome: "passed" }));
    expect(linearTrend(points, 30)?.note).toMatch(/already above the RTO/);
  });

  it("draws no trend from fewer than 3 passed drills or from less than a day, and says why", () => {
    const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 9) + minutes * 60_000);
    const two: ChartPoint[] = [
      { at: day(0), restoreMinutes: 10, outcome: "passed" },
      { at: day(7), outcome: "failed" },
      { at: day(14), restoreMinutes: 12, outcome: "passed" },
    ];
    expect(linearTrend(two, 30)).toBeUndefined();
    expect(trendAbsence(two)).toBe(
      "no trend: it needs 3 passed drills over at least a day (have 2 passed drills over 14 days)",
    );
    // `npm start` three times in a row: the old code extrapolated minutes into min/week.
    const minutesApart: ChartPoint[] = [0, 2, 4].map((m, i) => ({
      at: at(m),
      restoreMinutes: 0.2 + i * 0.05,
      outcome: "passed",
    }));
    expect(linearTrend(minutesApart, 30)).toBeUndefined();
    expect(trendAbsence(minutesApart)).toBe(
      "no trend: it needs 3 passed drills over at least a day (have 3 passed drills over 4 minutes)",
    );
    expect(trendAbsence([{ at: day(0), restoreMinutes: 1, outcome: "passed" }])).toContain("(have 1 passed drill)");
    const spread: ChartPoint[] = [0, 0.5, 1].map((d, i) => ({
      at: new Date(day(0).getTime() + d * 86_400_000),
      restoreMinutes: 10 + i,
      outcome: "passed",
    }));
    expect(trendAbsence(spread)).toBeUndefined();
    expect(linearTrend(spread, 30)?.points).toBe(3);
  });
});

describe("x axis", () => {
  it("shows times of day in the system's zone when the drills fall within a day, each label different", () => {
    const ticks = timeTicks(Date.UTC(2026, 11, 1, 9, 58), Date.UTC(2026, 11, 1, 10, 31), "Africa/Johannesburg");
    expect(ticks.map((t) => t.label)).toEqual(["12-01 12:00", "12:05", "12:10", "12:15", "12:20", "12:25", "12:30"]);
    expect(ticks.map((t) => new Date(t.at).toISOString().slice(11, 16))).toContain("10:00");
  });

  it("puts the date on the tick where the day changes, and dates alone over weeks", () => {
    const overnight = timeTicks(Date.UTC(2026, 11, 1, 20), Date.UTC(2026, 11, 2, 8), "UTC").map((t) => t.label);
    expect(overnight).toEqual(["12-01 20:00", "22:00", "12-02 00:00", "02:00", "04:00", "06:00", "08:00"]);
    const weeks = timeTicks(day(0).getTime(), day(40).getTime(), "UTC").map((t) => t.label);
    expect(weeks).toEqual(["2026-01-01", "2026-01-08", "2026-01-15", "2026-01-22", "2026-01-29", "2026-02-05"]);
    for (const labels of [overnight, weeks]) expect(new Set(labels).size).toBe(labels.length);
  });
});

describe("chart", () => {
  it("draws the RTO line, one mark per drill, the trend and its crossing", () => {
    const points: ChartPoint[] = [
      ...[0, 1, 2, 3].map((w): ChartPoint => ({ at: day(7 * w), restoreMinutes: 10 + w, outcome: "passed" })),
      { at: day(28), outcome: "failed", label: "checksum <mismatch>" },
      { at: day(35), restoreMinutes: 31, outcome: "passed" },
    ];
    const trend = linearTrend(points, 30);
    const svg = renderDrillChart({
      title: "PartPal IMS & co",
      rtoMinutes: 30,
      points,
      ...(trend ? { trend } : {}),
      caption: trend?.note ?? "",
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/class="drill"/g)).toHaveLength(5);
    expect(svg.match(/class="failed"/g)).toHaveLength(1);
    expect(svg).toContain('class="rto"');
    expect(svg).toContain('class="trend"');
    expect(svg).toContain("RTO 30 min");
    // The drill over the RTO is orange, the others green.
    expect(svg.match(/fill="#ff7f0e">/g)).toHaveLength(1);
    // Text is escaped.
    expect(svg).toContain("PartPal IMS &amp; co");
    expect(svg).toContain("checksum &lt;mismatch&gt;");
  });
});
