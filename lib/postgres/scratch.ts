import { z } from "zod";
import { errorMessage, RunbookError } from "../errors.js";
import type { PgConnection } from "./connection.js";
import { connect, listByPrefix } from "./server.js";

/**
 * Scratch databases on a drill target server: created with their drill's id, owner and deadline in a
 * COMMENT (so a janitor can find and judge them after a crash), dropped with FORCE.
 */

/** Prefix of every scratch database a drill creates (`drill_<system>_<database>_<hash>_<time>`). */
export const SCRATCH_DATABASE_PREFIX = "drill_";

/** What a drill database's COMMENT holds (JSON). */
export const drillCommentSchema = z.object({
  opsAutopilot: z.literal("restore-drill"),
  drillId: z.string(),
  system: z.string(),
  database: z.string(),
  startedAt: z.iso.datetime(),
  deadline: z.iso.datetime(),
});

/** A drill database's COMMENT, parsed. */
export type DrillComment = z.infer<typeof drillCommentSchema>;

/** The COMMENT text of a drill database. */
export function formatDrillComment(comment: Omit<DrillComment, "opsAutopilot">): string {
  return JSON.stringify({ opsAutopilot: "restore-drill", ...comment });
}

/** Parses a drill database COMMENT; undefined when absent or not ours. */
export function parseDrillComment(text: string | null | undefined): DrillComment | undefined {
  if (!text) return undefined;
  try {
    const parsed = drillCommentSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A name this module may create or drop: only `drill_` followed by safe characters. */
const SCRATCH_NAME = /^drill_[a-z0-9_]{1,57}$/;

/** The scratch database already exists: another run of the same drill got there first. */
export class ScratchExistsError extends RunbookError {}

function checkName(name: string): string {
  if (!SCRATCH_NAME.test(name)) {
    throw new RunbookError(`refusing to touch database "${name}": not a scratch database name (drill_...)`);
  }
  return `"${name}"`;
}

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** Major version of the server (e.g. 15). */
export async function serverMajor(server: PgConnection): Promise<{ major: number; version: string }> {
  const client = await connect(server);
  try {
    const result = await client.query<{ num: string; text: string }>(
      "select current_setting('server_version_num') as num, current_setting('server_version') as text",
    );
    const num = Number(result.rows[0]?.num ?? 0);
    return { major: Math.floor(num / 10_000), version: String(result.rows[0]?.text ?? "").split(" ")[0] ?? "" };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Creates an empty database from template0 (a dump restores into it without clashing with whatever
 * template1 holds) and labels it. Throws {@link ScratchExistsError} when it exists.
 */
export async function createScratchDatabase(server: PgConnection, name: string, comment: string): Promise<void> {
  const ident = checkName(name);
  const client = await connect(server);
  try {
    try {
      await client.query(`create database ${ident} template template0`);
    } catch (error) {
      if ((error as { code?: string }).code === "42P04") {
        throw new ScratchExistsError(`scratch database ${name} already exists (a drill with this id is running)`, {
          cause: error,
        });
      }
      throw new RunbookError(`cannot create scratch database ${name}: ${errorMessage(error)}`, { cause: error });
    }
    try {
      await client.query(`comment on database ${ident} is ${literal(comment)}`);
      // No one but its admin and its own check role may connect (PUBLIC may, by default, everywhere).
      await client.query(`revoke all on database ${ident} from public`);
    } catch (error) {
      // Unlabelled, the janitor could only judge it by its name: remove it now, while its owner is known.
      await dropScratchDatabase(server, name).catch(() => {});
      throw new RunbookError(`cannot label scratch database ${name}: ${errorMessage(error)}`, { cause: error });
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Drops a scratch database, disconnecting whoever is still in it (a pg_restore orphaned by a crash).
 * Returns `absent` when there was nothing to drop: dropping is idempotent.
 */
export async function dropScratchDatabase(server: PgConnection, name: string): Promise<"dropped" | "absent"> {
  const ident = checkName(name);
  const client = await connect(server);
  try {
    const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (!exists.rowCount) return "absent";
    const version = await client.query<{ num: string }>("select current_setting('server_version_num') as num");
    if (Number(version.rows[0]?.num ?? 0) >= 130_000) {
      await client.query(`drop database if exists ${ident} with (force)`);
    } else {
      await client.query(`alter database ${ident} with allow_connections false`);
      await client.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1", [name]);
      await client.query(`drop database if exists ${ident}`);
    }
    return "dropped";
  } catch (error) {
    throw new RunbookError(`cannot drop scratch database ${name}: ${errorMessage(error)}`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}

/** A scratch database found on a server. */
export interface ScratchDatabase {
  name: string;
  /** Its COMMENT, when it is one of ours and parses. */
  comment?: DrillComment;
}

/** Every `drill_…` database on the server, with its parsed COMMENT. */
export async function listScratchDatabases(server: PgConnection): Promise<ScratchDatabase[]> {
  const rows = await listByPrefix(server, "database", SCRATCH_DATABASE_PREFIX);
  return rows
    .filter((row) => SCRATCH_NAME.test(row.name))
    .map((row) => {
      const comment = parseDrillComment(row.comment);
      return { name: row.name, ...(comment ? { comment } : {}) };
    });
}
