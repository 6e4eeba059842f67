import type pg from "pg";
import type { PgConnection } from "./connection.js";
import { connect } from "./server.js";

/** A table to count exactly. */
export interface TableRef {
  schema: string;
  name: string;
}

/**
 * A snapshot exported by a transaction this process holds open (`pg_export_snapshot()`): pg_dump started
 * with `--snapshot=<id>` sees exactly the rows the counts see, so a drill can compare exact counts instead
 * of ±10 % planner estimates. The transaction must stay open until pg_dump has imported the snapshot;
 * it is held until {@link HeldSnapshot.release}.
 */
export interface HeldSnapshot {
  id: string;
  /**
   * Exact `count(*)` of each table in the snapshot, keyed `schema.name`, run while the dump runs; a table
   * that cannot be counted is left out (the drill then falls back to its estimate) and `onError` is told.
   */
  count(tables: readonly TableRef[], onError?: (table: TableRef, error: unknown) => void): Promise<Map<string, number>>;
  /** Ends the transaction and the connection; never throws. */
  release(): Promise<void>;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Opens a read-only REPEATABLE READ transaction on the database and exports its snapshot. */
export async function exportSnapshot(conn: PgConnection): Promise<HeldSnapshot> {
  const client: pg.Client = await connect(conn);
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const result = await client.query<{ id: string }>("SELECT pg_export_snapshot() AS id");
    const id = result.rows[0]?.id;
    if (!id) throw new Error("pg_export_snapshot() returned no id");
    return {
      id,
      async count(tables, onError) {
        const counts = new Map<string, number>();
        for (const table of tables) {
          // A savepoint per count: a failed count must not abort the transaction whose snapshot pg_dump
          // may not have imported yet.
          await client.query("SAVEPOINT ops_count");
          try {
            const r = await client.query<{ n: string }>(
              `SELECT count(*)::text AS n FROM ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`,
            );
            counts.set(`${table.schema}.${table.name}`, Number(r.rows[0]?.n));
            await client.query("RELEASE SAVEPOINT ops_count");
          } catch (error) {
            onError?.(table, error);
            await client.query("ROLLBACK TO SAVEPOINT ops_count").catch(() => {});
          }
        }
        return counts;
      },
      async release() {
        await client.query("COMMIT").catch(() => {});
        await client.end().catch(() => {});
      },
    };
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}
