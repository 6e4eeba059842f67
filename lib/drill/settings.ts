import { availableParallelism } from "node:os";
import { z } from "zod";
import {
  type drillCatalogueSchema,
  instanceClass,
  restoreModeSchema,
  securityGroupId,
} from "../../systems/drill-schema.js";
import type { credentialsSchema, System } from "../../systems/schema.js";
import { type CustomCheck, customCheckSchema } from "./checks.js";

export { drillCatalogueSchema, restoreModeSchema } from "../../systems/drill-schema.js";

/**
 * Drill settings: where scratch copies go, how a restore runs, what validation expects. They come from the
 * catalogue (`dr.drill`, {@link drillCatalogueSchema}) and the runbook input; input overrides the
 * catalogue and defaults fill the rest.
 */

/** Parses a JSON string when given one (CLI `key=value` input), else passes the value through. */
function jsonish(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** `a,b` or `["a","b"]` as a list. */
function listish(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const trimmed = value.trim();
  if (trimmed.startsWith("[")) return jsonish(trimmed);
  return trimmed
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

const number = (min: number, max: number) => z.coerce.number({ message: "must be a number" }).min(min).max(max);
const whole = (min: number, max: number) => number(min, max).int("must be a whole number");

/** Drill settings accepted as runbook input (every field optional: absent = catalogue, then default). */
export const drillInputFields = {
  instanceClass: instanceClass.optional(),
  subnetGroup: z.string().min(1).optional(),
  securityGroupIds: z.preprocess(listish, z.array(securityGroupId)).optional(),
  deadlineMinutes: whole(10, 2880).optional(),
  rowTolerancePercent: number(0, 100).optional(),
  tableLimit: whole(1, 100).optional(),
  restoreMode: restoreModeSchema.optional(),
  /** pg_restore --jobs in download mode (default: the machine's cores, at most 8). */
  jobs: whole(1, 64).optional(),
  /** Custom checks as a JSON array: [{"name": "...", "sql": "...", "expect": {"minRows": 1}}]. */
  checks: z.preprocess(jsonish, z.array(customCheckSchema)).optional(),
} as const;

/** Input fields of {@link drillInputFields}, parsed. */
export type DrillInput = {
  [K in keyof typeof drillInputFields]?: z.output<(typeof drillInputFields)[K]>;
};

/** Settings a drill runs with. */
export interface DrillSettings {
  target?: z.output<typeof credentialsSchema>;
  instanceClass: string;
  subnetGroup?: string;
  securityGroupIds: string[];
  deadlineMinutes: number;
  rowTolerancePercent: number;
  tableLimit: number;
  restoreMode: "auto" | "stream" | "download";
  jobs: number;
  checks: CustomCheck[];
}

/** Default deadline: three times the RTO (a slow restore is measured, not cut off), at least an hour. */
export function defaultDeadlineMinutes(system: Pick<System, "dr">): number {
  const base = Math.max(3 * system.dr.rtoMinutes, 60);
  // An RDS restore takes its own time to provision before any data moves.
  return system.dr.drillSource === "pg_dump" ? base : Math.max(base, 180);
}

/** The catalogue's `dr.drill` section (validated with the catalogue), else nothing. */
function catalogueSettings(system: System): Partial<z.output<typeof drillCatalogueSchema>> {
  return system.dr.drill ?? {};
}

/** Input over catalogue over defaults. */
export function resolveDrillSettings(system: System, input: DrillInput): DrillSettings {
  const catalogue = catalogueSettings(system);
  const subnetGroup = input.subnetGroup ?? catalogue.subnetGroup;
  return {
    ...(catalogue.target ? { target: catalogue.target } : {}),
    instanceClass: input.instanceClass ?? catalogue.instanceClass ?? "db.t4g.small",
    ...(subnetGroup ? { subnetGroup } : {}),
    securityGroupIds: input.securityGroupIds ?? catalogue.securityGroupIds ?? [],
    deadlineMinutes: input.deadlineMinutes ?? catalogue.deadlineMinutes ?? defaultDeadlineMinutes(system),
    rowTolerancePercent: input.rowTolerancePercent ?? catalogue.rowTolerancePercent ?? 10,
    tableLimit: input.tableLimit ?? catalogue.tableLimit ?? 10,
    restoreMode: input.restoreMode ?? catalogue.restoreMode ?? "auto",
    jobs: input.jobs ?? Math.min(8, Math.max(1, availableParallelism())),
    checks: [...(catalogue.checks ?? []), ...(input.checks ?? [])],
  };
}
