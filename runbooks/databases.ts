import { UnknownNameError } from "../lib/errors.js";
import type { Database, System } from "../systems/schema.js";

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
