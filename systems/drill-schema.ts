import { z } from "zod";
import { credentialsSchema } from "./credentials.js";

/**
 * The catalogue's drill settings (`dr.drill`) and custom SQL checks: a file of its own so that the drill
 * code and the system schema share one definition without importing each other.
 */

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** What a custom check expects of its query's result. */
export const checkExpectationSchema = z.union([
  /** The first column of the first row equals this value (numbers compare numerically). */
  z.strictObject({ equals: scalar }),
  /** The first column of the first row is a number within [min, max]. */
  z
    .strictObject({ min: z.number().optional(), max: z.number().optional() })
    .refine((e) => e.min !== undefined || e.max !== undefined, "give min, max or both"),
  /** The query returns exactly this many rows. */
  z.strictObject({ rows: z.number().int().min(0) }),
  /** The query returns at least this many rows. */
  z.strictObject({ minRows: z.number().int().min(0) }),
]);

/**
 * One custom SQL check of a system: a read-only query and its expectation. Reported as passed or failed
 * with the row count and the duration, never with the values the query returned.
 */
export const customCheckSchema = z.strictObject({
  name: z.string().min(1).max(120),
  sql: z.string().min(1).max(10_000),
  expect: checkExpectationSchema,
});

/** How a pg_dump drill feeds pg_restore: see `bench/drill.ts` for how `auto` was chosen. */
export const restoreModeSchema = z.enum(["auto", "stream", "download"]);

export const instanceClass = z
  .string()
  .regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, "must be an RDS instance class such as db.t4g.small");
export const securityGroupId = z
  .string()
  .regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group id such as sg-0123abcd");

/** Catalogue field `dr.drill`: where and how a system's restore drills run. */
export const drillCatalogueSchema = z.strictObject({
  /**
   * pg_dump drills: the server scratch databases are created on, with an admin user that may create
   * databases and roles. Must not be the production server: a drill restores, and its checks run, there.
   * Required for a pg_dump drill unless `allowSourceServer` is set.
   */
  target: credentialsSchema.optional(),
  /**
   * pg_dump drills: explicit opt-in to drill on the database's own server with its own credentials
   * (the embedded `demo`, whose one local server is all there is). Never a default: without `target`
   * and without this, a pg_dump drill fails and says which field to set.
   */
  allowSourceServer: z.boolean().default(false),
  /** RDS drills: class of the scratch instance (small: it only has to prove the data is there). */
  instanceClass: instanceClass.default("db.t4g.small"),
  /** RDS drills: DB subnet group of the scratch instance (default: the source instance's). */
  subnetGroup: z.string().min(1).optional(),
  /** RDS drills: VPC security groups of the scratch instance (default: the source instance's). */
  securityGroupIds: z.array(securityGroupId).default([]),
  /** When what a drill created is removed at the latest (default: max(3 × RTO, 60 min); RDS ≥ 180 min). */
  deadlineMinutes: z.number().int().min(10).max(2880).optional(),
  /** Allowed difference between restored row counts and planner estimates, in percent. */
  rowTolerancePercent: z.number().min(0).max(100).default(10),
  /** How many of the largest tables get their rows counted. */
  tableLimit: z.number().int().min(1).max(100).default(10),
  /** pg_dump drills: stream into pg_restore, or download then `pg_restore -j`. */
  restoreMode: restoreModeSchema.default("auto"),
  /**
   * pg_dump drills: `auto` runs in the function unless the estimated download and restore exceed its
   * budget (then the Fargate backup task takes it); `fargate` always hands it to the task.
   */
  runOn: z.enum(["auto", "fargate"], { message: 'must be "auto" or "fargate"' }).optional(),
  /** pg_dump drills: download throughput the hand-off estimate assumes, in MB/s (default 50). */
  throughputMBps: z.number().positive().max(10_000).optional(),
  /**
   * Custom SQL checks, reported one by one as pass/fail with numbers. The catalogue is their only
   * source (never runbook input): each runs as a read-only role created for the drill on the scratch copy.
   */
  checks: z.array(customCheckSchema).default([]),
});
