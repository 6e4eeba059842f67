/**
 * Restore time against the RTO over time: a least-squares trend and the date at which the trend would
 * cross the RTO, and an SVG chart of it (no dependencies; opens in any browser).
 */

import { offsetMinutes, toLocal } from "../../lib/timezone.js";

const DAY_MS = 86_400_000;

/** One drill on the chart. */
export interface ChartPoint {
  at: Date;
  /** Drill start → validated, in minutes; absent for a failed drill (plotted as a failure mark). */
  restoreMinutes?: number;
  outcome: "passed" | "failed";
  label?: string;
}

/** A straight line through (time, restore minutes), and what it says about the RTO. */
export interface Trend {
  /** Minutes of restore time gained (or lost, negative) per day. */
  slopePerDay: number;
  /** Restore minutes the line gives at time `at`. */
  predict(at: Date): number;
  /** When the line reaches the RTO; undefined when it never does (flat or improving). */
  crossing?: Date;
  /** One sentence for people. */
  note: string;
  points: number;
}

/** Fewest passed drills a trend is drawn from: two points make a line, not a tendency. */
export const TREND_MIN_DRILLS = 3;
/** Shortest span of passed drills a trend is drawn from: drills minutes apart (`npm start` run after run) say nothing about weeks. */
export const TREND_MIN_SPAN_MS = DAY_MS;

type Passed = ChartPoint & { restoreMinutes: number };
const passedOf = (points: readonly ChartPoint[]) => points.filter((p): p is Passed => p.restoreMinutes !== undefined);

/**
 * Why no trend is drawn from these drills, or `undefined` when one is: it needs {@link TREND_MIN_DRILLS}
 * passed drills spread over at least {@link TREND_MIN_SPAN_MS}.
 */
export function trendAbsence(points: readonly ChartPoint[]): string | undefined {
  const usable = passedOf(points);
  const times = usable.map((p) => p.at.getTime());
  const spanMs = times.length ? Math.max(...times) - Math.min(...times) : 0;
  if (usable.length >= TREND_MIN_DRILLS && spanMs >= TREND_MIN_SPAN_MS) return undefined;
  const have = `${usable.length} passed drill${usable.length === 1 ? "" : "s"}${usable.length > 1 ? ` over ${describeSpanShort(spanMs)}` : ""}`;
  return `no trend: it needs ${TREND_MIN_DRILLS} passed drills over at least a day (have ${have})`;
}

function describeSpanShort(ms: number): string {
  if (ms >= 2 * DAY_MS) return `${Math.round(ms / DAY_MS)} days`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} hours`;
  const minutes = Math.round(ms / 60_000);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** The least-squares line of restore minutes over days since the first drill, or none when flat in time. */
function fitLine(usable: readonly ChartPoint[]): { t0: number; slope: number; intercept: number } | undefined {
  const t0 = Math.min(...usable.map((p) => p.at.getTime()));
  const xs = usable.map((p) => (p.at.getTime() - t0) / DAY_MS);
  const ys = usable.map((p) => p.restoreMinutes ?? 0);
  const n = usable.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] ?? 0) - mx;
    sxx += dx * dx;
    sxy += dx * ((ys[i] ?? 0) - my);
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  return { t0, slope, intercept: my - slope * mx };
}

/** `12 days`, `5.0 hours` or `40 minutes`: how long the drills span. */
function spanText(spanDays: number): string {
  if (spanDays >= 2) return `${Math.round(spanDays)} days`;
  if (spanDays * 24 >= 1) return `${(spanDays * 24).toFixed(1)} hours`;
  return `${Math.round(spanDays * 1440)} minutes`;
}

/** What a rising trend means for the RTO: when it is crossed, or why no date can be given. */
function risingNote(options: {
  rate: string;
  rtoMinutes: number;
  crossing: Date;
  lastAt: Date;
  aboveNow: boolean;
  weak: string;
}): string {
  const { rate, rtoMinutes, crossing, lastAt } = options;
  if (Number.isNaN(crossing.getTime())) {
    // A rise of a few milliseconds a year puts the crossing beyond what a Date holds (±275,000 years).
    return options.aboveNow
      ? `trend ${rate}: already above the RTO (${rtoMinutes} min)`
      : `trend ${rate}: rising too slowly to reach the RTO (${rtoMinutes} min) in any foreseeable time`;
  }
  const when = crossing.toISOString().slice(0, 10);
  return crossing.getTime() <= lastAt.getTime()
    ? `trend ${rate}: already above the RTO (${rtoMinutes} min) since about ${when}`
    : `trend ${rate}: the RTO (${rtoMinutes} min) would be missed around ${when} if the trend holds${options.weak}`;
}

/**
 * Least-squares line through the passed drills (failed ones have no restore time). Undefined unless
 * there are {@link TREND_MIN_DRILLS} over at least a day ({@link trendAbsence} says why).
 */
export function linearTrend(points: readonly ChartPoint[], rtoMinutes: number): Trend | undefined {
  if (trendAbsence(points)) return undefined;
  const usable = passedOf(points);
  const line = fitLine(usable);
  if (!line) return undefined;
  const { t0, slope, intercept } = line;
  const n = usable.length;
  const predict = (at: Date) => intercept + slope * ((at.getTime() - t0) / DAY_MS);
  const last = new Date(Math.max(...usable.map((p) => p.at.getTime())));
  const perWeek = slope * 7;
  const spanDays = (last.getTime() - t0) / DAY_MS;
  // Three drills over a few days make a trend, but a thin one to forecast from.
  const weak = n < 5 || spanDays < 7 ? " (few drills over a short span: a weak forecast)" : "";
  const rate = `${perWeek >= 0 ? "+" : ""}${perWeek.toFixed(2)} min/week over ${n} drills in ${spanText(spanDays)}`;
  if (slope <= 0) {
    return {
      slopePerDay: slope,
      predict,
      points: n,
      note: `trend ${rate}: flat or improving, the RTO is not approached`,
    };
  }
  const crossing = new Date(t0 + ((rtoMinutes - intercept) / slope) * DAY_MS);
  const aboveNow = predict(last) >= rtoMinutes;
  const note = risingNote({ rate, rtoMinutes, crossing, lastAt: last, aboveNow, weak });
  if (Number.isNaN(crossing.getTime())) return { slopePerDay: slope, predict, points: n, note };
  return { slopePerDay: slope, predict, crossing, points: n, note };
}

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Options of {@link renderDrillChart}. */
export interface DrillChartOptions {
  title: string;
  rtoMinutes: number;
  points: readonly ChartPoint[];
  trend?: Trend;
  /** Shown at the bottom (e.g. the trend's note); folded onto two lines when long. */
  caption?: string;
  /** The zone whose dates and times of day the x axis shows (the system's); default UTC. */
  timezone?: string;
}

const MINUTE_MS = 60_000;
/** Tick spacings the x axis chooses from: the smallest that gives at most 7 ticks. */
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720]
  .map((m) => m * MINUTE_MS)
  .concat([1, 2, 7, 14, 30, 61, 91, 182, 365].map((d) => d * DAY_MS));

const pad2 = (n: number) => String(n).padStart(2, "0");

/** One x tick: where, and its label. */
export interface TimeTick {
  at: number;
  label: string;
}

/**
 * X ticks between two instants at round local times in `timezone`: times of day (`14:30`, with the
 * date where the day changes: `12-01 00:00`) when the span is under a few days, dates otherwise. Every
 * label differs from its neighbours, and there are at most 7 of them, so they never overlap.
 */
export function timeTicks(from: number, to: number, timezone = "UTC"): TimeTick[] {
  const range = Math.max(to - from, MINUTE_MS);
  const step = TICK_STEPS.find((s) => range / s <= 7) ?? 365 * DAY_MS;
  const offset = offsetMinutes(new Date(from), timezone) * MINUTE_MS;
  const ticks: TimeTick[] = [];
  let previousDay = "";
  for (let t = Math.ceil((from + offset) / step) * step - offset; t <= to; t += step) {
    const l = toLocal(new Date(t), timezone);
    const day = `${l.year}-${pad2(l.month)}-${pad2(l.day)}`;
    const time = `${pad2(l.hour)}:${pad2(l.minute)}`;
    const label = step >= DAY_MS ? day : day !== previousDay ? `${day.slice(5)} ${time}` : time;
    previousDay = day;
    ticks.push({ at: t, label });
  }
  return ticks;
}

/** Splits a caption at a space so each line fits about `max` characters (two lines at most). */
function foldCaption(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  const cut = text.lastIndexOf(" ", max);
  const at = cut > 0 ? cut : max;
  return [text.slice(0, at), text.slice(at).trim()];
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

/**
 * SVG line chart: restore minutes per drill (green met, orange over the RTO, red × failed), the RTO as
 * a red dashed line, the trend as a blue dashed line extended to its crossing with the RTO when that
 * is within a year of the last drill.
 */
export function renderDrillChart(options: DrillChartOptions): string {
  const frame = chartFrame(options);
  const { width, height } = frame;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(options.title)}</text>`,
    ...axesParts(frame, options.timezone ?? "UTC"),
    ...rtoParts(frame, options),
    ...(options.trend ? trendParts(frame, options.trend) : []),
    ...drillParts(frame, options),
    ...legendParts(frame, options.caption),
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}

/** The chart's geometry: its size and margins, the time span shown, and the scales onto pixels. */
interface ChartFrame {
  width: number;
  height: number;
  m: { left: number; right: number; top: number; bottom: number };
  plotW: number;
  plotH: number;
  first: number;
  end: number;
  x0: number;
  x1: number;
  yMax: number;
  sx: (t: number) => number;
  sy: (v: number) => number;
}

function chartFrame(options: DrillChartOptions): ChartFrame {
  const width = 900;
  const height = 480;
  const m = { left: 70, right: 50, top: 50, bottom: 110 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const { points, trend, rtoMinutes } = options;
  const times = points.map((p) => p.at.getTime());
  const first = times.length ? Math.min(...times) : 0;
  const last = times.length ? Math.max(...times) : DAY_MS;
  const crossing = trend?.crossing?.getTime();
  // The trend is drawn up to its crossing with the RTO when that is within a year of the last drill.
  const end = crossing !== undefined && crossing > last && crossing - last <= 365 * DAY_MS ? crossing : last;
  // At least half an hour wide: drills minutes apart spread out and read by their time of day.
  const span = Math.max(end - first, 30 * MINUTE_MS);
  const x0 = first - span * 0.04;
  const x1 = end + span * 0.04;
  const measured = points.flatMap((p) => (p.restoreMinutes === undefined ? [] : [p.restoreMinutes]));
  const trendEnd = trend ? Math.max(trend.predict(new Date(first)), trend.predict(new Date(end))) : 0;
  const yMax = Math.max(rtoMinutes * 1.25, ...measured.map((v) => v * 1.1), trendEnd * 1.05, 1);
  const sx = (t: number) => m.left + ((t - x0) / (x1 - x0)) * plotW;
  const sy = (v: number) => m.top + plotH - (Math.max(0, Math.min(v, yMax)) / yMax) * plotH;
  return { width, height, m, plotW, plotH, first, end, x0, x1, yMax, sx, sy };
}

/** The Y grid with its labels, the X ticks (round local times or dates, never two alike), the axes. */
function axesParts(f: ChartFrame, timezone: string): string[] {
  const { m, width, plotH, plotW } = f;
  const parts: string[] = [];
  const yStep = niceStep(f.yMax, 6);
  for (let v = 0; v <= f.yMax + 1e-9; v += yStep) {
    const y = f.sy(v).toFixed(1);
    parts.push(
      `<line x1="${m.left}" y1="${y}" x2="${width - m.right}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${Number(v.toFixed(2))}</text>`,
    );
  }
  parts.push(
    `<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">restore time (minutes)</text>`,
  );
  const ticks = timeTicks(f.x0, f.x1, timezone);
  for (const tick of ticks) {
    const x = f.sx(tick.at).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.top + plotH}" x2="${x}" y2="${m.top + plotH + 5}" stroke="#333"/>`,
      `<text class="tick" x="${x}" y="${m.top + plotH + 20}" text-anchor="middle">${escapeXml(tick.label)}</text>`,
    );
  }
  const daily = ticks.length > 1 && (ticks[1]?.at ?? 0) - (ticks[0]?.at ?? 0) >= DAY_MS;
  parts.push(
    `<text x="${m.left + plotW / 2}" y="${m.top + plotH + 38}" text-anchor="middle" fill="#555">${daily ? "date" : "time of day"} (${escapeXml(timezone)})</text>`,
    `<line x1="${m.left}" y1="${m.top + plotH}" x2="${width - m.right}" y2="${m.top + plotH}" stroke="#333"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="#333"/>`,
  );
  return parts;
}

/**
 * The RTO line. Its label sits at the right end unless the crossing marker is there (the trend is drawn
 * up to its crossing, so it usually is): then at the left end.
 */
function rtoParts(f: ChartFrame, options: DrillChartOptions): string[] {
  const { m, width } = f;
  const { rtoMinutes, trend } = options;
  const yRto = f.sy(rtoMinutes).toFixed(1);
  const crossingX = trend?.crossing ? f.sx(trend.crossing.getTime()) : undefined;
  const rtoAtLeft = crossingX !== undefined && crossingX > width - m.right - 110;
  return [
    `<line class="rto" x1="${m.left}" y1="${yRto}" x2="${width - m.right}" y2="${yRto}" stroke="#d62728" stroke-width="2" stroke-dasharray="8 4"/>`,
    `<text class="rto-label" x="${rtoAtLeft ? m.left + 6 : width - m.right - 4}" y="${Number(yRto) - 6}" text-anchor="${rtoAtLeft ? "start" : "end"}" fill="#d62728">RTO ${rtoMinutes} min</text>`,
  ];
}

/** The trend line, and where it crosses the RTO when that falls inside the chart. */
function trendParts(f: ChartFrame, trend: Trend): string[] {
  const { m, first, end, width, plotH } = f;
  const parts = [
    `<line class="trend" x1="${f.sx(first).toFixed(1)}" y1="${f.sy(trend.predict(new Date(first))).toFixed(1)}" x2="${f.sx(end).toFixed(1)}" y2="${f.sy(trend.predict(new Date(end))).toFixed(1)}" stroke="#1f77b4" stroke-width="2" stroke-dasharray="4 4"/>`,
  ];
  const crossing = trend.crossing?.getTime();
  if (crossing !== undefined && crossing <= end && crossing >= first) {
    const xc = f.sx(crossing).toFixed(1);
    parts.push(
      `<line class="crossing" x1="${xc}" y1="${m.top}" x2="${xc}" y2="${m.top + plotH}" stroke="#1f77b4" stroke-dasharray="2 3"/>`,
      `<text x="${xc}" y="${m.top - 6}" text-anchor="${Number(xc) > width - 200 ? "end" : "middle"}" fill="#1f77b4">RTO missed ~${new Date(crossing).toISOString().slice(0, 10)} at this trend</text>`,
    );
  }
  return parts;
}

/** The drills: a grey line through the measured ones, green within the RTO, orange over, a red × failed. */
function drillParts(f: ChartFrame, options: DrillChartOptions): string[] {
  const sorted = [...options.points].sort((a, b) => a.at.getTime() - b.at.getTime());
  const measured = sorted.filter((p) => p.restoreMinutes !== undefined);
  const parts: string[] = [];
  if (measured.length > 1) {
    const path = measured
      .map(
        (p, i) => `${i === 0 ? "M" : "L"}${f.sx(p.at.getTime()).toFixed(1)},${f.sy(p.restoreMinutes ?? 0).toFixed(1)}`,
      )
      .join(" ");
    parts.push(`<path d="${path}" fill="none" stroke="#7f7f7f" stroke-width="1"/>`);
  }
  for (const p of sorted) parts.push(drillMark(f, p, options.rtoMinutes));
  return parts;
}

function drillMark(f: ChartFrame, p: ChartPoint, rtoMinutes: number): string {
  const x = f.sx(p.at.getTime());
  const title = `<title>${escapeXml(p.label ?? p.at.toISOString())}</title>`;
  if (p.restoreMinutes === undefined) {
    const y = f.m.top + 10;
    return `<g class="failed" stroke="#d62728" stroke-width="2">${title}<line x1="${x - 5}" y1="${y - 5}" x2="${x + 5}" y2="${y + 5}"/><line x1="${x - 5}" y1="${y + 5}" x2="${x + 5}" y2="${y - 5}"/></g>`;
  }
  const fill = p.restoreMinutes <= rtoMinutes ? "#2ca02c" : "#ff7f0e";
  return `<circle class="drill" cx="${x.toFixed(1)}" cy="${f.sy(p.restoreMinutes).toFixed(1)}" r="5" fill="${fill}">${title}</circle>`;
}

/** The legend, and the caption folded onto lines. */
function legendParts(f: ChartFrame, captionText: string | undefined): string[] {
  const { m, height } = f;
  const ly = height - 48;
  const parts = [
    `<circle cx="${m.left}" cy="${ly}" r="5" fill="#2ca02c"/><text x="${m.left + 10}" y="${ly + 4}">within RTO</text>`,
    `<circle cx="${m.left + 100}" cy="${ly}" r="5" fill="#ff7f0e"/><text x="${m.left + 110}" y="${ly + 4}">over RTO</text>`,
    `<text x="${m.left + 190}" y="${ly + 4}" fill="#d62728">× failed drill</text>`,
    `<line x1="${m.left + 290}" y1="${ly}" x2="${m.left + 320}" y2="${ly}" stroke="#1f77b4" stroke-width="2" stroke-dasharray="4 4"/><text x="${m.left + 326}" y="${ly + 4}">linear trend</text>`,
  ];
  const caption = captionText ? foldCaption(captionText, 120) : [];
  caption.forEach((line, i) => {
    parts.push(`<text class="caption" x="${m.left}" y="${height - 26 + i * 16}">${escapeXml(line)}</text>`);
  });
  return parts;
}
