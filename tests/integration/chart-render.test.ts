import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChartPoint, linearTrend, renderDrillChart, trendAbsence } from "../../runbooks/restore-drill/chart.js";
import { decodePng } from "../helpers/png.js";

/**
 * The drill chart as a person sees it: rendered by headless Chromium (Debian's `chromium`) to a PNG whose
 * pixels are looked at, and laid out in the browser to check that no two labels overlap.
 */
const run = promisify(execFile);
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
let dir: string;

async function browser(...args: string[]): Promise<string> {
  const { stdout } = await run(
    chromium ?? "chromium",
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      `--user-data-dir=${join(dir, "profile")}`,
      ...args,
    ],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 9, 40) + minutes * 60_000);
const week = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 7 * 86_400_000);

/** The demo after `npm start` three times: drills minutes apart, no trend. */
function minutesApart(): string {
  const points: ChartPoint[] = [0, 2, 5].map((m, i) => ({
    at: at(m),
    restoreMinutes: 0.3 + i * 0.02,
    outcome: "passed",
  }));
  return renderDrillChart({
    title: "Demo: restore drills against the RTO",
    rtoMinutes: 30,
    points,
    caption: trendAbsence(points) ?? "",
    timezone: "Africa/Johannesburg",
  });
}

/** Weeks of drills whose trend reaches the RTO: the crossing marker at the right end, beside the RTO line. */
function risingOverWeeks(): string {
  const points: ChartPoint[] = [0, 1, 2, 3, 4, 5].map((w) => ({
    at: week(w),
    restoreMinutes: 12 + 2.5 * w,
    outcome: "passed",
  }));
  points.push({ at: week(6), outcome: "failed", label: "checksum mismatch" });
  const trend = linearTrend(points, 30);
  if (!trend) throw new Error("expected a trend");
  return renderDrillChart({
    title: "PartPal IMS: restore drills against the RTO",
    rtoMinutes: 30,
    points,
    trend,
    caption: trend.note,
  });
}

/** Boxes of every label and of the crossing marker, as the browser lays them out; pairs that overlap. */
const LAYOUT_SCRIPT = `
const svg = document.querySelector("svg");
const box = (e) => { const r = e.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height, text: e.textContent }; };
const texts = [...svg.querySelectorAll("text")].map(box).filter((b) => b.w > 0);
const marks = [...svg.querySelectorAll("line.crossing")].map((e) => ({ ...box(e), text: "crossing marker" }));
const hit = (a, b) => a.x < b.x + Math.max(b.w, 1) && b.x < a.x + Math.max(a.w, 1) && a.y < b.y + b.h && b.y < a.y + a.h;
const overlaps = [];
for (let i = 0; i < texts.length; i++) {
  for (let j = i + 1; j < texts.length; j++) if (hit(texts[i], texts[j])) overlaps.push([texts[i].text, texts[j].text]);
  for (const m of marks) if (hit(texts[i], m) && !texts[i].text.startsWith("RTO missed")) overlaps.push([texts[i].text, m.text]);
}
const outside = texts.filter((b) => b.x < 0 || b.y < 0 || b.x + b.w > 900 || b.y + b.h > 480).map((b) => b.text);
const ticks = [...svg.querySelectorAll("text.tick")].map((e) => e.textContent);
document.body.setAttribute("data-layout", JSON.stringify({ labels: texts.length, overlaps, outside, ticks }));
`;

async function layout(
  name: string,
  svg: string,
): Promise<{ labels: number; overlaps: string[][]; outside: string[]; ticks: string[] }> {
  const page = join(dir, `${name}.html`);
  await writeFile(
    page,
    `<!doctype html><html><body style="margin:0">${svg}<script>${LAYOUT_SCRIPT}</script></body></html>`,
  );
  const dom = await browser("--dump-dom", `file://${page}`);
  const match = /data-layout="([^"]*)"/.exec(dom);
  if (!match?.[1]) throw new Error(`the layout script did not run: ${dom.slice(0, 300)}`);
  return JSON.parse(match[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&"));
}

async function screenshot(name: string, svg: string) {
  const file = join(dir, `${name}.svg`);
  const png = join(dir, `${name}.png`);
  await writeFile(file, svg);
  await browser(`--screenshot=${png}`, "--window-size=900,480", "--hide-scrollbars", `file://${file}`);
  return decodePng(await readFile(png));
}

/** How many pixels are near a colour (each channel within 40). */
function count(image: ReturnType<typeof decodePng>, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let n = 0;
  for (let i = 0; i < image.pixels.length; i += 4) {
    const p = image.pixels;
    if (Math.abs((p[i] ?? 0) - r) < 40 && Math.abs((p[i + 1] ?? 0) - g) < 40 && Math.abs((p[i + 2] ?? 0) - b) < 40) n++;
  }
  return n;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ops-chart-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!chromium)("the drill chart in headless Chromium", () => {
  it.each([
    ["minutes-apart", minutesApart],
    ["rising-over-weeks", risingOverWeeks],
  ])(
    "%s renders to a PNG that is not blank, with the RTO line and the drills in their colours",
    async (name, make) => {
      const image = await screenshot(name, make());
      expect([image.width, image.height]).toEqual([900, 480]);
      const white = count(image, "#ffffff");
      const total = image.width * image.height;
      // Mostly white background, but far from all of it: axes, labels, lines and marks are drawn.
      expect(white / total).toBeLessThan(0.98);
      expect(white / total).toBeGreaterThan(0.5);
      expect(count(image, "#d62728")).toBeGreaterThan(300); // the RTO line (dashed, 780 px wide)
      expect(count(image, "#2ca02c")).toBeGreaterThan(50); // passed drills within the RTO (and the legend)
    },
    120_000,
  );

  it.each([
    ["minutes-apart", minutesApart],
    ["rising-over-weeks", risingOverWeeks],
  ])(
    "%s lays out with no two labels overlapping and none off the image",
    async (name, make) => {
      const result = await layout(name, make());
      expect(result.labels).toBeGreaterThan(10);
      expect(result.overlaps).toEqual([]);
      expect(result.outside).toEqual([]);
    },
    120_000,
  );
});
