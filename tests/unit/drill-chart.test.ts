import { describe, expect, it } from "vitest";
import { type ChartPoint, linearTrend, renderDrillChart } from "../../lib/drill/chart.js";

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
    const slow: ChartPoint[] = [0, 365].map((d, i) => ({
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

  it("ignores failed drills and needs two passed ones", () => {
    expect(
      linearTrend(
        [
          { at: day(0), restoreMinutes: 10, outcome: "passed" },
          { at: day(7), outcome: "failed" },
        ],
        30,
      ),
    ).toBeUndefined();
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
