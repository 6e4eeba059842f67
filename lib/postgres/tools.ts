import { type ChildProcess, execFile, type StdioOptions, spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { PrerequisiteError } from "../errors.js";
import { libpqEnv, type PgConnection } from "./connection.js";

const run = promisify(execFile);

/** A PostgreSQL client program found on this machine. */
export interface PgTool {
  path: string;
  /** e.g. "15.18" */
  version: string;
  major: number;
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.18 / 15. */
export function parseToolVersion(output: string): { version: string; major: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) return undefined;
  const major = Number(match[1]);
  return { version: match[2] === undefined ? String(major) : `${major}.${match[2]}`, major };
}

/** Options of {@link findTools}. */
export interface FindToolsOptions {
  /** `pg_dump`, `pg_restore`, ... */
  name: string;
  /** Extra directories to search first (`OPS_PG_BIN_DIRS`, colon-separated). */
  extraDirs?: string[];
  /** `PATH` to search last. */
  path?: string;
}

/**
 * Every installed copy of a PostgreSQL client program, with its version: the configured directories,
 * Debian's `/usr/lib/postgresql/<major>/bin`, then `PATH`. Duplicates (symlinks) are kept once.
 */
export async function findTools(options: FindToolsOptions): Promise<PgTool[]> {
  const dirs = [...(options.extraDirs ?? [])];
  try {
    const majors = await readdir("/usr/lib/postgresql");
    dirs.push(...majors.map((m) => join("/usr/lib/postgresql", m, "bin")));
  } catch {
    // Not a Debian-style install: PATH only.
  }
  dirs.push(...(options.path ?? "").split(delimiter).filter(Boolean));
  const tools: PgTool[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    const path = join(dir, options.name);
    try {
      const { stdout } = await run(path, ["--version"], { timeout: 10_000 });
      const parsed = parseToolVersion(stdout);
      const key = `${parsed?.version}|${stdout}`;
      if (parsed && !seen.has(key)) {
        seen.add(key);
        tools.push({ path, ...parsed });
      }
    } catch {
      // Not there or not runnable: try the next directory.
    }
  }
  return tools;
}

/**
 * The client to use against a server: pg_dump refuses servers newer than itself, so its major must be
 * ≥ the server's; among those, the closest major (its output suits that server best).
 */
export function chooseTool(tools: PgTool[], server: { major: number; version: string }, name: string): PgTool {
  const fitting = tools.filter((t) => t.major >= server.major).sort((a, b) => a.major - b.major);
  const chosen = fitting[0];
  if (chosen) return chosen;
  const available = tools.length ? tools.map((t) => `${t.version} (${t.path})`).join(", ") : "none found";
  throw new PrerequisiteError(
    `the server runs PostgreSQL ${server.version} but no ${name} of major ${server.major} or newer is available ` +
      `(have: ${available}); install postgresql-client-${server.major} or set OPS_PG_BIN_DIRS to a directory holding ` +
      `${name} ≥ ${server.major}`,
  );
}

/** The PostgreSQL client programs runbooks run. */
export type PgProgram = "pg_dump" | "pg_restore" | "psql";

/** A started client program: its pipes, and its end with pg's stderr (capped). */
export interface RunningTool {
  child: ChildProcess;
  /** Resolves when it has exited (never rejects): code, signal, or the spawn error. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
}

/** Options of {@link PgToolsPort.spawn}. */
export interface SpawnToolOptions {
  args: string[];
  /** The connection, passed to libpq as environment variables: the password never reaches argv. */
  conn?: PgConnection;
  stdio?: StdioOptions;
  cwd?: string;
  /** Messages in English whatever the locale (`LC_MESSAGES=C`): for a caller that parses them (pg_dump's `--verbose`). */
  englishMessages?: boolean;
}

/** The child's environment: the base, libpq's connection variables, and the C message locale when asked. */
function childEnv(baseEnv: Record<string, string>, options: SpawnToolOptions): Record<string, string> {
  const english = options.englishMessages ? { LC_ALL: "", LC_MESSAGES: "C" } : {};
  return { ...baseEnv, ...english, ...(options.conn ? libpqEnv(options.conn) : {}) };
}

/**
 * PostgreSQL client programs as a runbook reaches them (`ctx.pgTools`): found where the settings say,
 * chosen for the server's major, started with the connection in libpq's environment only.
 */
export interface PgToolsPort {
  /** Every installed copy of a program, with its version. */
  find(name: PgProgram): Promise<PgTool[]>;
  /** The copy to use against a server ({@link chooseTool}); throws a `PrerequisiteError` saying what to install. */
  choose(name: PgProgram, server: { major: number; version: string }): Promise<PgTool>;
  /** The environment a tool starts with besides libpq's variables (PATH, locale, HOME). */
  baseEnv: Readonly<Record<string, string>>;
  /** Starts a program. */
  spawn(tool: PgTool, options: SpawnToolOptions): RunningTool;
}

/** Options of {@link createPgTools}. */
export interface PgToolsOptions {
  /** Searched first (`settings.pgBinDirs`). */
  extraDirs: readonly string[];
  /** `settings.path`. */
  path: string;
  /** Where PATH, locale and HOME for the child come from (the edge's environment). */
  env: Readonly<Record<string, string | undefined>>;
}

const CHILD_ENV = ["PATH", "LANG", "LC_ALL", "TZ", "HOME"] as const;

/** The real port: programs on this machine, found once per program and kept. */
export function createPgTools(options: PgToolsOptions): PgToolsPort {
  const found = new Map<PgProgram, Promise<PgTool[]>>();
  const baseEnv: Record<string, string> = {};
  for (const name of CHILD_ENV) {
    const value = options.env[name];
    if (value) baseEnv[name] = value;
  }
  const find = (name: PgProgram) => {
    let tools = found.get(name);
    if (!tools) {
      tools = findTools({ name, extraDirs: [...options.extraDirs], path: options.path });
      found.set(name, tools);
    }
    return tools;
  };
  return {
    find,
    choose: async (name, server) => chooseTool(await find(name), server, name),
    baseEnv,
    spawn(tool, spawnOptions) {
      const child = spawn(tool.path, spawnOptions.args, {
        env: childEnv(baseEnv, spawnOptions),
        stdio: spawnOptions.stdio ?? ["ignore", "pipe", "pipe"],
        ...(spawnOptions.cwd ? { cwd: spawnOptions.cwd } : {}),
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
        child.once("error", (error) => resolve({ code: null, signal: null, error }));
        child.once("close", (code, signal) => resolve({ code, signal }));
      });
      return { child, exited };
    },
  };
}
