import type pg from "pg";
import type { z } from "zod";
import type { customCheckSchema } from "../../systems/drill-schema.js";
import { errorMessage } from "../errors.js";
import { plural } from "../text.js";
import { type CheckRole, type CheckRoleLabel, createCheckRole } from "./check-role.js";
import type { PgConnection } from "./connection.js";
import { connect, largestTables } from "./server.js";

export { checkExpectationSchema, customCheckSchema } from "../../systems/drill-schema.js";

/**
 * Validation of a restored database: built-in checks (restore exit status, checksum, table count, row
 * counts of the largest tables) and per-system custom SQL checks, each reported on its own line.
 */

/** A custom check as configured. */
export type CustomCheck = z.infer<typeof customCheckSchema>;

/** How one check came out. */
export interface CheckResult {
  name: string;
  kind: "restore" | "checksum" | "tables" | "rows" | "custom";
  status: "passed" | "failed" | "skipped";
  expected?: string;
  /** What was found, as a number or count (never a value a custom check's query returned). */
  actual?: string;
  reason?: string;
  /** Custom checks: how many rows the query returned. */
  rows?: number;
  /** Custom checks: how long the query took. */
  durationMs?: number;
}

/** A table whose row count the restore must reproduce. */
export interface ExpectedTable {
  schema: string;
  name: string;
  rows: number;
  /** True when `rows` is an exact count (compared exactly); false for a planner estimate. */
  exact: boolean;
}

/** What {@link validateRestored} checks against. */
export interface Expectations {
  /** Number of user tables the restored database must hold; unchecked when undefined. */
  tableCount?: number;
  tables: ExpectedTable[];
  /** Allowed relative difference for estimated row counts, in percent. */
  rowTolerancePercent: number;
  checks: CustomCheck[];
  /** Whose role the custom checks run as (required for them to run; they never run as the admin). */
  checkRole?: CheckRoleLabel;
  /** Told what could not be cleaned up or was unusual (e.g. a check role that could not be created). */
  warn?: (message: string) => void;
  /** Per-statement limit for counts and custom checks. */
  statementTimeoutMs?: number;
  signal?: AbortSignal;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Whether a count matches its expectation; the reason when it does not. */
export function compareRows(
  actual: number,
  expected: ExpectedTable,
  tolerancePercent: number,
): Pick<CheckResult, "status" | "reason"> {
  if (expected.exact) {
    return actual === expected.rows
      ? { status: "passed" }
      : { status: "failed", reason: `expected exactly ${expected.rows} rows` };
  }
  if (expected.rows <= 0) {
    // reltuples is 0 or -1 (never analysed) when the planner had no statistics: there is nothing to compare.
    return { status: "skipped", reason: "no planner statistics at backup time; count not compared" };
  }
  const allowed = (expected.rows * tolerancePercent) / 100;
  const diff = Math.abs(actual - expected.rows);
  if (diff <= allowed) return { status: "passed" };
  const pct = ((diff / expected.rows) * 100).toFixed(1);
  return {
    status: "failed",
    reason: `differs from the estimate ${expected.rows} by ${pct} % (tolerance ${tolerancePercent} %)`,
  };
}

function describeExpectation(expect: CustomCheck["expect"]): string {
  if ("equals" in expect) return `= ${JSON.stringify(expect.equals)}`;
  if ("rows" in expect) return plural(expect.rows, "row");
  if ("minRows" in expect) return `≥ ${plural(expect.minRows, "row")}`;
  const parts = [expect.min !== undefined ? `≥ ${expect.min}` : "", expect.max !== undefined ? `≤ ${expect.max}` : ""];
  return parts.filter(Boolean).join(" and ");
}

/** Whether a value equals an `equals` expectation: numbers numerically (bigint arrives as text), dates as ISO. */
function equalsExpected(want: string | number | boolean | null, value: unknown): boolean {
  if (want === null) return value === null;
  if (typeof want === "number") return value !== null && Number(value) === want;
  if (typeof want === "boolean") return value === want || String(value) === String(want);
  return value !== null && (value instanceof Date ? value.toISOString() : String(value)) === want;
}

/**
 * Evaluates a custom check's expectation against a query result (pure). The result says pass or fail,
 * with the row count: never the value the query returned, which may be a customer's data.
 */
export function evaluateExpectation(
  expect: CustomCheck["expect"],
  result: { rows: Record<string, unknown>[]; fields: { name: string }[] },
): Pick<CheckResult, "status" | "actual" | "reason" | "rows"> {
  const rows = result.rows.length;
  if ("rows" in expect || "minRows" in expect) {
    const ok = "rows" in expect ? rows === expect.rows : rows >= expect.minRows;
    return { status: ok ? "passed" : "failed", actual: plural(rows, "row"), rows };
  }
  const first = result.rows[0];
  const column = result.fields[0]?.name;
  if (!first || column === undefined) return { status: "failed", reason: "the query returned no rows", rows };
  const value = first[column];
  const fail = (reason: string) => ({ status: "failed" as const, reason, rows });
  if ("equals" in expect) {
    return equalsExpected(expect.equals, value)
      ? { status: "passed", rows }
      : fail(`the first column of the first row is not ${describeExpectation(expect)}`);
  }
  const n = Number(value);
  if (value === null || !Number.isFinite(n)) return fail("the first column is not a number");
  return withinBounds(n, expect)
    ? { status: "passed", rows }
    : fail(`the first column of the first row is not ${describeExpectation(expect)}`);
}

/** `min` ≤ n ≤ `max`, each bound optional. */
function withinBounds(n: number, bounds: { min?: number | undefined; max?: number | undefined }): boolean {
  return (bounds.min === undefined || n >= bounds.min) && (bounds.max === undefined || n <= bounds.max);
}

/** Names of the SQLSTATEs a check most often ends with (the rest are reported by code alone). */
const SQLSTATE_NAMES: Record<string, string> = {
  "42501": "insufficient_privilege",
  "42P01": "undefined_table",
  "42703": "undefined_column",
  "42883": "undefined_function",
  "42601": "syntax_error",
  "25006": "read_only_sql_transaction",
  "57014": "query_canceled",
  "22P02": "invalid_text_representation",
  "22012": "division_by_zero",
  "0A000": "feature_not_supported",
  "08006": "connection_failure",
  "2F003": "prohibited_sql_statement_attempted",
};

/**
 * Why a custom check's query failed, without PostgreSQL's message: that message quotes the data it
 * choked on (`invalid input syntax for type integer: "<a customer's value>"`). The SQLSTATE says enough.
 */
export function checkErrorReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    const name = SQLSTATE_NAMES[code];
    return `the query failed: SQLSTATE ${code}${name ? ` (${name})` : ""}`;
  }
  return "the query failed (no SQLSTATE: the connection or the client failed)";
}

/** The report line of a validation: its failed checks one by one, or how many passed. */
export function validationOutcome(checks: readonly CheckResult[]): { status: "failed" | "done"; reason: string } {
  const failed = checks.filter((c) => c.status === "failed");
  return failed.length
    ? {
        status: "failed",
        reason: failed.map((c) => `${c.name}: ${c.reason ?? `expected ${c.expected}, got ${c.actual}`}`).join("; "),
      }
    : { status: "done", reason: `${plural(checks.filter((c) => c.status === "passed").length, "check")} passed` };
}

/** Counts the user tables of the connected database (ordinary and partitioned). */
export async function countUserTables(client: pg.Client): Promise<number> {
  const result = await client.query<{ n: string }>(
    `select count(*)::text as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'`,
  );
  return Number(result.rows[0]?.n ?? 0);
}

/** Every custom check failed with the same reason (they could not run at all). */
function allFailed(checks: readonly CustomCheck[], reason: string): CheckResult[] {
  return checks.map((check) => ({
    name: check.name,
    kind: "custom" as const,
    status: "failed" as const,
    expected: describeExpectation(check.expect),
    reason,
  }));
}

/**
 * Runs the catalogue's custom checks as the drill's own read-only role (see `check-role.ts`), never as
 * the admin that restored the copy: the admin could terminate other sessions, write server files or read
 * other databases. Without a role label, or when the role cannot be created, the checks fail.
 */
async function runCustomChecks(admin: PgConnection, expectations: Expectations): Promise<CheckResult[]> {
  const { checks } = expectations;
  if (!expectations.checkRole) return allFailed(checks, "no check role for this drill: custom checks not run");
  let role: CheckRole;
  try {
    role = await createCheckRole(admin, expectations.checkRole);
  } catch (error) {
    return allFailed(checks, errorMessage(error));
  }
  let client: pg.Client;
  try {
    client = await connect(role.conn);
  } catch (error) {
    return allFailed(checks, `cannot connect as the drill's check role: ${checkErrorReason(error)}`);
  }
  const onAbort = () => void client.end().catch(() => {});
  expectations.signal?.addEventListener("abort", onAbort, { once: true });
  const results: CheckResult[] = [];
  try {
    await client.query(`set statement_timeout = ${statementTimeout(expectations)}`);
    for (const [index, check] of checks.entries()) {
      if (expectations.signal?.aborted) break;
      const expected = describeExpectation(check.expect);
      const started = performance.now();
      try {
        await client.query("begin transaction read only");
        // A named (prepared) statement is one statement: `commit; set ... read write; delete ...` cannot
        // end the read-only transaction and write, as it could in a simple-protocol query string.
        const result = await client.query({ name: `drill-check-${index}`, text: check.sql });
        const durationMs = Math.round(performance.now() - started);
        await client.query("rollback");
        results.push({
          name: check.name,
          kind: "custom",
          expected,
          ...evaluateExpectation(check.expect, result),
          durationMs,
        });
      } catch (error) {
        const durationMs = Math.round(performance.now() - started);
        await client.query("rollback").catch(() => {});
        results.push({
          name: check.name,
          kind: "custom",
          status: "failed",
          expected,
          reason: checkErrorReason(error),
          durationMs,
        });
      }
    }
  } finally {
    expectations.signal?.removeEventListener("abort", onAbort);
    await client.end().catch(() => {});
  }
  return results;
}

const statementTimeout = (expectations: Pick<Expectations, "statementTimeoutMs">) =>
  Math.max(1000, Math.round(expectations.statementTimeoutMs ?? 600_000));

/** The table count check: the archive's count when known, else at least one table. */
function tableCountCheck(tableCount: number, expected: number | undefined): CheckResult {
  if (expected === undefined) {
    return {
      name: "table count",
      kind: "tables",
      status: tableCount > 0 ? "passed" : "failed",
      actual: String(tableCount),
      expected: "≥ 1",
      ...(tableCount > 0 ? {} : { reason: "the restored database holds no tables" }),
    };
  }
  const ok = tableCount === expected && tableCount > 0;
  return {
    name: "table count",
    kind: "tables",
    status: ok ? "passed" : "failed",
    expected: String(expected),
    actual: String(tableCount),
    ...(ok ? {} : { reason: tableCount === 0 ? "the restored database holds no tables" : "table count differs" }),
  };
}

/** Row counts of the expected tables, one check each; a count that throws is a failed check. */
async function rowCountChecks(client: pg.Client, expectations: Expectations): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const table of expectations.tables) {
    if (expectations.signal?.aborted) break;
    const name = `rows ${table.schema}.${table.name}`;
    const expected = table.exact ? String(table.rows) : `~${table.rows} ± ${expectations.rowTolerancePercent} %`;
    try {
      const result = await client.query<{ n: string }>(
        `select count(*)::text as n from ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`,
      );
      const actual = Number(result.rows[0]?.n ?? 0);
      const verdict = compareRows(actual, table, expectations.rowTolerancePercent);
      results.push({ name, kind: "rows", expected, actual: String(actual), ...verdict });
    } catch (error) {
      results.push({ name, kind: "rows", status: "failed", expected, reason: errorMessage(error) });
    }
  }
  return results;
}

/**
 * Runs every check against a restored database, one result per check; a check that throws is a failed
 * check, not a crash. The built-in counts run as `conn` (fixed SQL of ours); the catalogue's custom
 * checks run as the drill's check role, each in a read-only transaction.
 */
export async function validateRestored(conn: PgConnection, expectations: Expectations): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const client = await connect(conn);
  const onAbort = () => {
    // Cancels a running statement: a count on a huge table must not outlive the drill's deadline.
    void client.end().catch(() => {});
  };
  expectations.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await client.query(`set statement_timeout = ${statementTimeout(expectations)}`);
    results.push(tableCountCheck(await countUserTables(client), expectations.tableCount));
    results.push(...(await rowCountChecks(client, expectations)));
    if (expectations.checks.length > 0) results.push(...(await runCustomChecks(conn, expectations)));
    if (expectations.signal?.aborted) {
      results.push({
        name: "validation",
        kind: "custom",
        status: "failed",
        reason: "stopped: the drill's deadline passed",
      });
    }
  } finally {
    expectations.signal?.removeEventListener("abort", onAbort);
    await client.end().catch(() => {});
  }
  return results;
}

/** Table count and the largest tables with planner row estimates, read from a live database. */
export async function readTableStats(
  conn: PgConnection,
  limit: number,
): Promise<{ tableCount: number; tables: ExpectedTable[] }> {
  const client = await connect(conn);
  try {
    const tableCount = await countUserTables(client);
    const largest = await largestTables(client, limit);
    return {
      tableCount,
      tables: largest.map((t) => ({ schema: t.schema, name: t.name, rows: t.rowsEstimate, exact: false })),
    };
  } finally {
    await client.end().catch(() => {});
  }
}
