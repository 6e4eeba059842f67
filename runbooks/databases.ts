import { errorMessage, UnknownNameError } from "../lib/errors.js";
import type { Database, System } from "../systems/schema.js";
import type { ReportBuilder } from "./report.js";
import type { RunbookContext } from "./types.js";

/**
 * A `database=` that names no database the runbook can act on. Thrown before anything is read or
 * changed; the runner reports it as a failed run, the same words from every runbook.
 */
export class UnknownDatabaseError extends UnknownNameError {
  readonly system: string;
  readonly database: string;

  constructor(options: { system: string; database: string; known: readonly string[]; among?: string }) {
    super("database", options.database, options.known);
    this.message = `system "${options.system}": unknown database "${options.database}"${options.among ? ` ${options.among}` : ""}; known databases: ${options.known.join(", ") || "(none)"}`;
    this.system = options.system;
    this.database = options.database;
  }
}

/**
 * The databases a run acts on: all of `among` (default: every database of the system), or the one
 * `database=` names. An id that is not there throws {@link UnknownDatabaseError} — a typo must never
 * turn into a run over nothing that reports success.
 */
export function selectDatabases(
  system: System,
  database: string | undefined,
  options: { among?: readonly Database[]; amongLabel?: string } = {},
): Database[] {
  const candidates = options.among ?? system.databases;
  if (database === undefined) return [...candidates];
  const chosen = candidates.filter((d) => d.id === database);
  if (chosen.length > 0) return chosen;
  throw new UnknownDatabaseError({
    system: system.id,
    database,
    known: candidates.map((d) => d.id),
    ...(options.amongLabel ? { among: options.amongLabel } : {}),
  });
}

/** One database's end in {@link forEachDatabase}: what `work` returned, or the message of what it threw. */
export type DatabaseResult<T> = { database: Database; value: T } | { database: Database; error: string };

/** Options of {@link forEachDatabase}. */
export interface ForEachDatabaseOptions<T> {
  report: ReportBuilder;
  /** The action a throw is reported as (`backup`, `prune`): `failed` on `<system>/<database>`. */
  action: string;
  /** Why the run stopped early, for the `stop` action (e.g. "remaining databases not backed up"). */
  stopped: string;
  work: (database: Database) => Promise<T>;
}

/**
 * The skeleton of a runbook over databases: one at a time, in the catalogue's order; on abort
 * (`ctx.signal`: the deadline, a first Ctrl-C) it stops before the next database and marks the run
 * partial; a throw in one database is that database `failed`, and the others still run.
 */
export async function forEachDatabase<T>(
  ctx: Pick<RunbookContext, "system" | "signal">,
  databases: readonly Database[],
  options: ForEachDatabaseOptions<T>,
): Promise<{ results: DatabaseResult<T>[]; aborted: boolean }> {
  const results: DatabaseResult<T>[] = [];
  for (const database of databases) {
    if (ctx.signal?.aborted) {
      options.report.markAborted(`stopped before the deadline; ${options.stopped}`);
      return { results, aborted: true };
    }
    try {
      results.push({ database, value: await options.work(database) });
    } catch (error) {
      const reason = errorMessage(error);
      options.report.add({
        resource: `${ctx.system.id}/${database.id}`,
        action: options.action,
        status: "failed",
        reason,
      });
      results.push({ database, error: reason });
    }
  }
  return { results, aborted: false };
}
