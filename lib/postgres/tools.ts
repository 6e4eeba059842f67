import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { PrerequisiteError } from "../errors.js";

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
