import { z } from "zod";
import type { CustomCheck } from "../../lib/postgres/checks.js";
import {
  type drillCatalogueSchema,
  instanceClass,
  restoreModeSchema,
  securityGroupId,
} from "../../systems/drill-schema.js";
import type { credentialsSchema, System } from "../../systems/schema.js";

export { drillCatalogueSchema, restoreModeSchema } from "../../systems/drill-schema.js";

/**
 * Drill settings: where scratch copies go, how a restore runs, what validation expects. They come from the
 * catalogue (`dr.drill`, {@link drillCatalogueSchema}) and the runbook input; input overrides the
 * catalogue and defaults fill the rest. The drill target and the SQL checks come from the catalogue alone.
 */

/** `a,b` or `["a","b"]` as a list. */
function listish(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const trimmed = value.trim();
  if (trimmed.startsWith("[")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return value;
    }
  }
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
  // No `checks`: SQL comes from the catalogue only (`dr.drill.checks`), never from an event, the CLI or Slack.
} as const;

/** What an input that names a key the drill does not take is told (checks get the reason they moved). */
export function unknownDrillKeyMessage(keys: readonly PropertyKey[], allowed: readonly string[]): string {
  const names = keys.map((k) => `"${String(k)}"`).join(", ");
  const why = keys.includes("checks")
    ? "; SQL checks are not runbook input: they come from the catalogue only (dr.drill.checks)"
    : "";
  return `unknown key ${names}; allowed: ${allowed.join(", ")}${why}`;
}

/** Input fields of {@link drillInputFields}, parsed. */
export type DrillInput = {
  [K in keyof typeof drillInputFields]?: z.output<(typeof drillInputFields)[K]>;
};

/** Settings a drill runs with. */
export interface DrillSettings {
  target?: z.output<typeof credentialsSchema>;
  /** Opt-in to drill on the database's own server (`dr.drill.allowSourceServer`). */
  allowSourceServer: boolean;
  instanceClass: string;
  subnetGroup?: string;
  securityGroupIds: string[];
  deadlineMinutes: number;
  rowTolerancePercent: number;
  tableLimit: number;
  restoreMode: "auto" | "stream" | "download";
  jobs: number;
  /** From the catalogue only. */
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

/** Input over catalogue over defaults; `cpus` (the process settings') sizes the default `pg_restore -j`. */
export function resolveDrillSettings(system: System, input: DrillInput, cpus = 1): DrillSettings {
  const catalogue = catalogueSettings(system);
  const subnetGroup = input.subnetGroup ?? catalogue.subnetGroup;
  return {
    ...(catalogue.target ? { target: catalogue.target } : {}),
    allowSourceServer: catalogue.allowSourceServer ?? false,
    instanceClass: input.instanceClass ?? catalogue.instanceClass ?? "db.t4g.small",
    ...(subnetGroup ? { subnetGroup } : {}),
    securityGroupIds: input.securityGroupIds ?? catalogue.securityGroupIds ?? [],
    deadlineMinutes: input.deadlineMinutes ?? catalogue.deadlineMinutes ?? defaultDeadlineMinutes(system),
    rowTolerancePercent: input.rowTolerancePercent ?? catalogue.rowTolerancePercent ?? 10,
    tableLimit: input.tableLimit ?? catalogue.tableLimit ?? 10,
    restoreMode: input.restoreMode ?? catalogue.restoreMode ?? "auto",
    jobs: input.jobs ?? Math.min(8, Math.max(1, cpus)),
    checks: [...(catalogue.checks ?? [])],
  };
}
