import type pg from "pg";
import type { z } from "zod";
import type { customCheckSchema } from "../../systems/drill-schema.js";
import { errorMessage } from "../errors.js";
import type { PgConnection } from "../postgres/connection.js";
import { connect, largestTables } from "../postgres/server.js";

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
  actual?: string;
  reason?: string;
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
  if ("rows" in expect) return `${expect.rows} row(s)`;
  if ("minRows" in expect) return `≥ ${expect.minRows} row(s)`;
  const parts = [expect.min !== undefined ? `≥ ${expect.min}` : "", expect.max !== undefined ? `≤ ${expect.max}` : ""];
  return parts.filter(Boolean).join(" and ");
}

function display(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text === undefined ? "undefined" : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Evaluates a custom check's expectation against a query result (pure). */
export function evaluateExpectation(
  expect: CustomCheck["expect"],
  result: { rows: Record<string, unknown>[]; fields: { name: string }[] },
): Pick<CheckResult, "status" | "actual" | "reason"> {
  if ("rows" in expect || "minRows" in expect) {
    const n = result.rows.length;
    const ok = "rows" in expect ? n === expect.rows : n >= expect.minRows;
    return { status: ok ? "passed" : "failed", actual: `${n} row(s)` };
  }
  const first = result.rows[0];
  const column = result.fields[0]?.name;
  if (!first || column === undefined)
    return { status: "failed", actual: "no rows", reason: "the query returned no rows" };
  const value = first[column];
  if ("equals" in expect) {
    const want = expect.equals;
    let ok: boolean;
    if (want === null) ok = value === null;
    else if (typeof want === "number") ok = value !== null && Number(value) === want;
    else if (typeof want === "boolean") ok = value === want || String(value) === String(want);
    else ok = value !== null && (value instanceof Date ? value.toISOString() : String(value)) === want;
    return { status: ok ? "passed" : "failed", actual: display(value) };
  }
  const n = Number(value);
  if (value === null || !Number.isFinite(n)) {
    return { status: "failed", actual: display(value), reason: "the first column is not a number" };
  }
  const ok = (expect.min === undefined || n >= expect.min) && (expect.max === undefined || n <= expect.max);
  return { status: ok ? "passed" : "failed", actual: String(n) };
}

/** The report line of a validation: its failed checks one by one, or how many passed. */
export function validationOutcome(checks: readonly CheckResult[]): { status: "failed" | "done"; reason: string } {
  const failed = checks.filter((c) => c.status === "failed");
  return failed.length
    ? {
        status: "failed",
        reason: failed.map((c) => `${c.name}: ${c.reason ?? `expected ${c.expected}, got ${c.actual}`}`).join("; "),
      }
    : { status: "done", reason: `${checks.filter((c) => c.status === "passed").length} check(s) passed` };
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

/**
 * Runs every check against a restored database, one result per check; a check that throws is a failed
 * check, not a crash. Custom checks run in read-only transactions.
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
    await client.query(
      `set statement_timeout = ${Math.max(1000, Math.round(expectations.statementTimeoutMs ?? 600_000))}`,
    );
    const tableCount = await countUserTables(client);
    if (expectations.tableCount === undefined) {
      results.push({
        name: "table count",
        kind: "tables",
        status: tableCount > 0 ? "passed" : "failed",
        actual: String(tableCount),
        expected: "≥ 1",
        ...(tableCount > 0 ? {} : { reason: "the restored database holds no tables" }),
      });
    } else {
      const ok = tableCount === expectations.tableCount && tableCount > 0;
      results.push({
        name: "table count",
        kind: "tables",
        status: ok ? "passed" : "failed",
        expected: String(expectations.tableCount),
        actual: String(tableCount),
        ...(ok ? {} : { reason: tableCount === 0 ? "the restored database holds no tables" : "table count differs" }),
      });
    }
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
    // Custom SQL comes from the catalogue; a scratch database is disposable, but a check still must not
    // change it under the checks that follow.
    if (expectations.checks.length > 0) await client.query("set default_transaction_read_only = on");
    for (const [index, check] of expectations.checks.entries()) {
      if (expectations.signal?.aborted) break;
      const expected = describeExpectation(check.expect);
      try {
        await client.query("begin transaction read only");
        // A named (prepared) statement is one statement: `commit; set ... read write; delete ...` cannot
        // end the read-only transaction and write, as it could in a simple-protocol query string.
        const result = await client.query({ name: `drill-check-${index}`, text: check.sql });
        await client.query("rollback");
        results.push({ name: check.name, kind: "custom", expected, ...evaluateExpectation(check.expect, result) });
      } catch (error) {
        await client.query("rollback").catch(() => {});
        results.push({
          name: check.name,
          kind: "custom",
          status: "failed",
          expected,
          reason: errorMessage(error),
        });
      }
    }
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
