import type { PgConnection } from "../postgres/connection.js";
import { connect } from "../postgres/server.js";

/**
 * A sample inventory shaped like PartPal IMS (vehicles stripped for parts, the parts, their sales),
 * generated inside PostgreSQL so that seeding tens of MB (or, for benchmarks, gigabytes) takes seconds.
 */
export interface SeedOptions {
  /** 1 ≈ 40 MB on disk; the size grows linearly. */
  scale: number;
}

/** Creates the database if it does not exist; returns true when it was created. */
export async function ensureDatabase(server: PgConnection, name: string): Promise<boolean> {
  const client = await connect(server, "postgres");
  try {
    const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (exists.rowCount) return false;
    await client.query(`create database "${name.replace(/"/g, '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}

/** Fills a database with the inventory tables (idempotent: does nothing when `parts` exists). */
export async function seedInventory(conn: PgConnection, options: SeedOptions): Promise<{ seeded: boolean }> {
  const client = await connect(conn);
  const vehicles = Math.max(10, Math.round(20_000 * options.scale));
  const parts = Math.max(100, Math.round(200_000 * options.scale));
  const sales = Math.max(100, Math.round(250_000 * options.scale));
  try {
    const exists = await client.query("select to_regclass('public.parts') is not null as present");
    if (exists.rows[0]?.present) return { seeded: false };
    await client.query("begin");
    await client.query(`
      create table vehicles (
        id bigint primary key, vin text not null unique, make text not null, model text not null,
        year int not null, received_at timestamptz not null, yard_location text not null);
      create table parts (
        id bigint primary key, vehicle_id bigint not null references vehicles(id), part_number text not null,
        name text not null, condition text not null, price_cents int not null, quantity int not null,
        created_at timestamptz not null);
      create table sales (
        id bigint primary key, part_id bigint not null references parts(id), sold_at timestamptz not null,
        price_cents int not null, customer text not null, channel text not null);`);
    await client.query(
      `insert into vehicles
       select g, upper(md5(g::text)), (array['Toyota','VW','Ford','Nissan','BMW','Hyundai'])[1 + g % 6],
              'Model ' || (g % 40), 1995 + g % 30, timestamptz '2024-01-01' + (g || ' minutes')::interval,
              'Row ' || (g % 120) || ' Bay ' || (g % 16)
         from generate_series(1::bigint, $1) g`,
      [vehicles],
    );
    await client.query(
      `insert into parts
       select g, 1 + g % $2, 'PP-' || lpad((g % 99991)::text, 6, '0'),
              (array['Alternator','Starter motor','Headlight','Door panel','Gearbox','Radiator','Mirror'])[1 + g % 7]
                || ' ' || substr(md5(g::text), 1, 12),
              (array['new','used-good','used-fair','refurbished'])[1 + g % 4], 500 + (g * 7919) % 250000,
              g % 5, timestamptz '2024-01-01' + (g || ' seconds')::interval
         from generate_series(1::bigint, $1) g`,
      [parts, vehicles],
    );
    await client.query(
      `insert into sales
       select g, 1 + (g * 31) % $2, timestamptz '2024-02-01' + (g * 13 || ' seconds')::interval,
              500 + (g * 104729) % 250000, 'customer-' || (g % 5000), (array['counter','online','phone'])[1 + g % 3]
         from generate_series(1::bigint, $1) g`,
      [sales, parts],
    );
    await client.query(
      "create index parts_vehicle_idx on parts(vehicle_id); create index sales_part_idx on sales(part_id)",
    );
    await client.query("commit");
    await client.query("analyze");
    return { seeded: true };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}
