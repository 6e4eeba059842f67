/**
 * Command-line parsing for `ops`: each command names the options it takes, and every mistake gets a
 * message that says what is wrong and what is allowed (Node's own parseArgs says "ambiguous" for
 * `--days -3` and nothing helpful for `--dryrun`). Pure: no I/O, so every message is pinned by a test.
 */
import { parseArgs } from "node:util";
import { errorMessage, ValidationError } from "../lib/errors.js";
import { plural } from "../lib/text.js";

/** A usage mistake: exit code 2, and a pointer to `--help`. */
export class UsageError extends ValidationError {}

/** One option a command accepts. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** Shown in help: `--days N`. */
  value?: string;
  description: string;
  short?: string;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  verbose: { type: "boolean", description: "structured logs at INFO instead of WARN (stderr)" },
  help: { type: "boolean", short: "h", description: "this command's usage" },
};

/** What a command's arguments parsed into. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Edit distance, for "did you mean". */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

/** The closest known name when it is close enough to be a typo (or a prefix of it). */
export function didYouMean(input: string, known: readonly string[]): string | undefined {
  const normal = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = normal(name).startsWith(normal(input)) && input.length >= 2 ? 0 : distance(normal(input), normal(name));
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(1, Math.ceil(best.name.length / 3)) ? best.name : undefined;
}

const NUMBER = /^-\d+(\.\d+)?$/;

/**
 * `--days -3` → `--days=-3`: a negative number after an option that takes a value is that value (so the
 * range check can say what is allowed), not an unknown short option.
 */
function joinNegativeValues(argv: string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? "";
    const next = argv[i + 1];
    const name = token.startsWith("--") ? token.slice(2) : undefined;
    if (name && options[name]?.type === "string" && next !== undefined && NUMBER.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else out.push(token);
  }
  return out;
}

function unknownOption(token: string, command: string, options: Record<string, OptionSpec>): UsageError {
  const name = token.replace(/^-+/, "").split("=")[0] ?? token;
  const known = Object.keys(options);
  const guess = didYouMean(name, known);
  const list = known.map((o) => `--${o}`).join(", ");
  return new UsageError(
    `unknown option "${token.split("=")[0]}" for \`ops ${command}\`${guess ? `; did you mean --${guess}?` : ""} (options: ${list})`,
  );
}

/**
 * Parses one command's arguments strictly: unknown options (with a did-you-mean), a missing value, a
 * value given to a flag, and more positionals than the command takes are usage errors.
 */
export function parseCommandArgs(
  command: string,
  argv: string[],
  spec: { options: Record<string, OptionSpec>; maxPositionals: number; positionalsName?: string },
): ParsedArgs {
  const options = { ...spec.options, ...GLOBAL_OPTIONS };
  const config = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  );
  const args = joinNegativeValues(argv, options);
  checkOptionTokens(command, args, { options, config });
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: config, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(errorMessage(error).replace(/\s*To specify .*$/s, ""), [], { cause: error });
  }
  checkPositionals(command, parsed.positionals, spec);
  return { values: parsed.values as ParsedArgs["values"], positionals: parsed.positionals };
}

/**
 * A lenient pass over the tokens first, so an unknown option, a value given to a flag or a missing value
 * gets our message (with a did-you-mean) rather than node's.
 */
function checkOptionTokens(
  command: string,
  args: string[],
  spec: { options: Record<string, OptionSpec>; config: NonNullable<Parameters<typeof parseArgs>[0]>["options"] },
): void {
  const { options, config } = spec;
  const probe = parseArgs({ args, options: config, allowPositionals: true, strict: false, tokens: true });
  for (const token of probe.tokens ?? []) {
    if (token.kind !== "option") continue;
    const option = options[token.name];
    if (!option) throw unknownOption(token.rawName, command, options);
    if (option.type === "boolean" && token.inlineValue) {
      throw new UsageError(`option --${token.name} takes no value (got "${token.rawName}=${token.value}")`);
    }
    if (option.type === "string" && token.value === undefined) {
      throw new UsageError(`option --${token.name} needs a value: --${token.name} ${option.value ?? "VALUE"}`);
    }
  }
}

/** More positionals than the command takes is a usage error that quotes the extra ones. */
function checkPositionals(
  command: string,
  positionals: string[],
  spec: { maxPositionals: number; positionalsName?: string },
): void {
  if (positionals.length <= spec.maxPositionals) return;
  const extra = positionals.slice(spec.maxPositionals);
  const takes =
    spec.maxPositionals === 0
      ? "takes no arguments"
      : `takes ${spec.positionalsName ?? plural(spec.maxPositionals, "argument")}`;
  throw new UsageError(`\`ops ${command}\` ${takes}; unexpected: ${extra.map((p) => `"${p}"`).join(" ")}`);
}

/** A whole number option within a range, or a usage error that states the range. */
export function integerOption(
  name: string,
  value: string | boolean | undefined,
  range: { min: number; max: number; fallback?: number },
): number | undefined {
  if (value === undefined || typeof value === "boolean") return range.fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(`--${name} must be a whole number from ${range.min} to ${range.max} (got "${value}")`);
  }
  return n;
}
