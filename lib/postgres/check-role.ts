import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { z } from "zod";
import { errorMessage, RunbookError } from "../errors.js";
import type { PgConnection } from "./connection.js";
import { connect, listByPrefix } from "./server.js";

/**
 * The role a drill's catalogue SQL checks run as: created per drill on the server that holds the scratch
 * copy, with a random name and password, LOGIN and nothing else (no superuser, no CREATEDB/CREATEROLE,
 * no replication, no BYPASSRLS, member of no role, so none of pg_read_server_files,
 * pg_write_server_files, pg_signal_backend, ...), CONNECT on the scratch database only among drill
 * databases (PUBLIC's CONNECT is revoked there), USAGE on its schemas and SELECT on its tables. Its
 * password expires at the drill's deadline, and a COMMENT names the drill and system so that the janitor
 * removes a leftover of its own system only.
 *
 * The password never leaves this process: the server receives a SCRAM-SHA-256 verifier (what
 * PostgreSQL stores anyway), so a server that logs DDL (`log_statement = ddl`) logs no password.
 */

/** Prefix of every check role's name (roles are cluster-wide: the janitor lists them by it). */
export const CHECK_ROLE_PREFIX = "drill_check_";

const ROLE_NAME = /^drill_check_[0-9a-f]{20}$/;

/** What a check role's COMMENT holds (JSON). */
export const checkRoleCommentSchema = z.object({
  opsAutopilot: z.literal("restore-drill-check-role"),
  drillId: z.string(),
  system: z.string(),
  database: z.string(),
  scratchDatabase: z.string(),
  deadline: z.iso.datetime(),
});

/** A check role's COMMENT, parsed. */
export type CheckRoleComment = z.infer<typeof checkRoleCommentSchema>;

/** Who a check role belongs to: the drill, its system and database, and when it may be removed. */
export type CheckRoleLabel = Omit<CheckRoleComment, "opsAutopilot" | "scratchDatabase">;

/** The check role could not be created or granted: the checks do not run (never as the admin instead). */
export class CheckRoleError extends RunbookError {}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/**
 * PostgreSQL's SCRAM-SHA-256 verifier of a password (RFC 5802/7677, the format `pg_authid` stores):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. The password is ASCII (base64url), which
 * SASLprep leaves unchanged.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** A created check role: where to connect as it. Its password is in `conn` and nowhere else. */
export interface CheckRole {
  name: string;
  conn: PgConnection;
}

/**
 * Creates the check role for the scratch database `admin` is connected to, in one transaction (role,
 * COMMENT and grants together: a crash leaves either nothing or a labelled role).
 */
export async function createCheckRole(admin: PgConnection, label: CheckRoleLabel): Promise<CheckRole> {
  const name = `${CHECK_ROLE_PREFIX}${randomBytes(10).toString("hex")}`;
  const password = randomBytes(24).toString("base64url");
  const role = quoteIdent(name);
  const scratch = quoteIdent(admin.database);
  const comment = JSON.stringify({
    opsAutopilot: "restore-drill-check-role",
    ...label,
    scratchDatabase: admin.database,
  } satisfies CheckRoleComment);
  const client = await connect(admin);
  try {
    await client.query("begin");
    await client.query(
      `create role ${role} login nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls ` +
        `connection limit 1 valid until ${literal(label.deadline)} password ${literal(scramVerifier(password))}`,
    );
    await client.query(`comment on role ${role} is ${literal(comment)}`);
    // Every session of the role starts read-only; each check also runs in its own read-only transaction.
    await client.query(`alter role ${role} set default_transaction_read_only = on`);
    await client.query(`revoke all on database ${scratch} from public`);
    await client.query(`grant connect on database ${scratch} to ${role}`);
    const schemas = await client.query<{ name: string }>(
      `select nspname as name from pg_namespace
        where nspname <> 'information_schema' and nspname not like 'pg\\_%' order by nspname`,
    );
    for (const { name: schema } of schemas.rows) {
      await client.query(`grant usage on schema ${quoteIdent(schema)} to ${role}`);
      await client.query(`grant select on all tables in schema ${quoteIdent(schema)} to ${role}`);
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => {});
    const code = (error as { code?: string }).code;
    throw new CheckRoleError(
      `cannot create the drill's read-only check role on ${admin.host}:${admin.port}/${admin.database}: ${errorMessage(error)}${code ? ` (SQLSTATE ${code})` : ""}; the admin user needs CREATEROLE and ownership of the restored schemas`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => {});
  }
  return { name, conn: { ...admin, user: name, password } };
}

/** A check role found on a server. */
export interface FoundCheckRole {
  name: string;
  comment?: CheckRoleComment;
}

function parseComment(text: string | null): CheckRoleComment | undefined {
  if (!text) return undefined;
  try {
    const parsed = checkRoleCommentSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Every `drill_check_…` role on the server, with its parsed COMMENT. */
export async function listCheckRoles(server: PgConnection): Promise<FoundCheckRole[]> {
  const rows = await listByPrefix(server, "role", CHECK_ROLE_PREFIX);
  return rows
    .filter((row) => ROLE_NAME.test(row.name))
    .map((row) => {
      const comment = parseComment(row.comment);
      return { name: row.name, ...(comment ? { comment } : {}) };
    });
}

/**
 * Drops a check role. Its grants live in its scratch database, so drop that first (DROP DATABASE takes
 * them along); `absent` when there was nothing to drop.
 */
export async function dropCheckRole(server: PgConnection, name: string): Promise<"dropped" | "absent"> {
  if (!ROLE_NAME.test(name)) throw new RunbookError(`refusing to drop role "${name}": not a drill check role`);
  const client = await connect(server);
  try {
    const exists = await client.query("select 1 from pg_roles where rolname = $1", [name]);
    if (!exists.rowCount) return "absent";
    await client.query(`drop role if exists ${quoteIdent(name)}`);
    return "dropped";
  } catch (error) {
    throw new RunbookError(`cannot drop a drill check role: ${errorMessage(error)}`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}

/** Drops the check roles a drill left on a server (normally one); how many were dropped. */
export async function dropCheckRolesOfDrill(server: PgConnection, drillId: string): Promise<number> {
  let dropped = 0;
  for (const role of await listCheckRoles(server)) {
    if (role.comment?.drillId !== drillId) continue;
    if ((await dropCheckRole(server, role.name)) === "dropped") dropped++;
  }
  return dropped;
}
