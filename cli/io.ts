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
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
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
