import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the CLI writes: results to `out` (stdout), everything else to `err` (stderr). */
export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  now: () => Date;
  /** The progress line on a TTY (absent in tests that build their own io: progress then goes nowhere). */
  progress?: ProgressLine;
}

/** Exit codes: 0 succeeded or skipped; 1 failed or partial; 2 usage or validation error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][], maxWidth = TABLE_WIDTH): string {
  const widths = fitWidths(
    headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))),
    headers.map((h) => h.length),
    maxWidth,
  );
  // A row whose cells do not fit their column folds onto continuation lines, each cell wrapped in place.
  const lines = (cells: string[]) => {
    const wrapped = widths.map((w, i) => wrapCell(cells[i] ?? "", w));
    const height = Math.max(...wrapped.map((c) => c.length));
    return Array.from({ length: height }, (_, row) =>
      wrapped
        .map((c, i) => (c[row] ?? "").padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    );
  };
  return [...lines(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.flatMap(lines)].join("\n");
}

/**
 * `head` then `body` folded to {@link TABLE_WIDTH} columns, the continuation lines indented by `indent`
 * (default: under the body's first character), so help text and notes stay readable in 100 columns.
 */
export function foldLine(head: string, body = "", indent = " ".repeat(head.length)): string {
  if (head.length + body.length <= TABLE_WIDTH) return `${head}${body}`;
  // At least 20 columns for the body, however long the head: a fold must always make progress.
  const [first = "", ...rest] = wrapCell(body, Math.max(20, TABLE_WIDTH - Math.max(head.length, indent.length)));
  return [`${head}${first}`, ...rest.map((line) => `${indent}${line}`)].join("\n");
}

/** Tables fit a 100-column terminal: wider cells fold within their column. */
export const TABLE_WIDTH = 100;

/** Column widths that fit `maxWidth` (with two spaces between), taking room from the widest first. */
function fitWidths(natural: number[], minimum: number[], maxWidth: number): number[] {
  const widths = [...natural];
  const floor = (i: number) => Math.min(natural[i] ?? 0, Math.max(minimum[i] ?? 0, 8));
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  while (total() > maxWidth) {
    const widest = widths.reduce((best, w, i) => (w - floor(i) > (widths[best] ?? 0) - floor(best) ? i : best), 0);
    if ((widths[widest] ?? 0) <= floor(widest)) break;
    widths[widest] = (widths[widest] ?? 0) - 1;
  }
  return widths;
}

/** A cell's text in lines of at most `width`, broken at spaces (a longer word is cut). */
export function wrapCell(text: string, width: number): string[] {
  if (text.length <= width || width < 1) return [text];
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    let rest = word;
    while (rest.length > width) {
      if (line) {
        out.push(line);
        line = "";
      }
      out.push(rest.slice(0, width));
      rest = rest.slice(width);
    }
    if (!line) line = rest;
    else if (line.length + 1 + rest.length <= width) line = `${line} ${rest}`;
    else {
      out.push(line);
      line = rest;
    }
  }
  if (line) out.push(line);
  return out;
}

/** Writes a value as pretty JSON followed by a newline. */
export function writeJson(io: CliIo, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The checkout's root (where package.json is), from this module: it runs from cli/ or from dist/cli/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dir !== dirname(dir)) dir = dirname(dir);
  return dir;
}

/**
 * The one progress line a run shows on a TTY (`\r`-rewritten on stderr). Anything else the CLI writes,
 * on stdout or stderr (a report, a log line, a warning), first clears it, so a report never starts
 * in the middle of `dumping demo/inventory: 8.1 MiB`.
 */
export class ProgressLine {
  private active = false;

  constructor(private readonly target: NodeJS.WritableStream) {}

  /** Replaces the line with `text`. */
  show(text: string): void {
    this.target.write(`\r\x1b[2K${text}`);
    this.active = true;
  }

  /** Clears the line if one is shown. */
  clear(): void {
    if (!this.active) return;
    this.active = false;
    this.target.write("\r\x1b[2K");
  }
}

/** `target`, whose every write first clears `line`. */
export function clearingStream<S extends NodeJS.WritableStream>(target: S, line: ProgressLine): S {
  return new Proxy(target, {
    get(object, property, receiver) {
      if (property === "write") {
        return (...args: unknown[]) => {
          line.clear();
          return (object.write as (...a: unknown[]) => boolean).apply(object, args);
        };
      }
      const value = Reflect.get(object, property, receiver);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}
