import { z } from "zod";
import { SCRATCH_INSTANCE_PREFIX } from "../restore-drill/names.js";

/**
 * The RDS events an RDS drill continues on. RDS emits events on a best-effort basis, out of order or not
 * at all, so several may trigger `drill-continue`: it reads the instance's real status and its
 * `drill-state` tag, acts once, and ignores the rest; `drill-janitor` continues a drill whose event
 * never came.
 */
export const DRILL_CONTINUE_EVENT_IDS = [
  /** restoration: DB instance restored from a DB snapshot (older catalogues). */
  "RDS-EVENT-0008",
  /** restoration: "Restored from DB instance <name> to <time>." (point-in-time). */
  "RDS-EVENT-0019",
  /** restoration: "Restored from snapshot <snapshot>." */
  "RDS-EVENT-0043",
  /** creation: "DB instance created." */
  "RDS-EVENT-0005",
  /** backup: "Finished DB instance backup." (when a restore ends with a backup). */
  "RDS-EVENT-0002",
] as const;

/**
 * EventBridge rule pattern for the `drill-continue` handler: RDS instance events of scratch instances
 * only (`drill-` prefix), of the kinds above.
 */
export const drillEventPattern = {
  source: ["aws.rds"],
  "detail-type": ["RDS DB Instance Event"],
  detail: {
    SourceType: ["DB_INSTANCE"],
    SourceIdentifier: [{ prefix: SCRATCH_INSTANCE_PREFIX }],
    EventID: [...DRILL_CONTINUE_EVENT_IDS],
  },
} as const;

/**
 * `detail` of an EventBridge "RDS DB Instance Event", as `drill-continue` takes it. Loose: RDS adds
 * fields over time (e.g. `Tags`), and an unknown field must not make a drill miss its continuation.
 * Lenient on absence too (an empty input is a no-op run, not an error): the handler validates the whole
 * event with {@link rdsInstanceEventSchema} first.
 */
export const rdsInstanceEventDetailSchema = z
  .looseObject({
    EventCategories: z.array(z.string()).default([]),
    SourceType: z.string().default(""),
    SourceArn: z.string().optional(),
    Date: z.string().optional(),
    Message: z.string().default(""),
    SourceIdentifier: z.string().default(""),
    EventID: z.string().optional(),
    Tags: z.record(z.string(), z.string()).optional(),
  })
  // Loose for RDS's fields, but never a carrier of SQL: checks come from the catalogue only.
  .refine((detail) => !("checks" in detail), {
    message:
      'unknown key "checks": SQL checks are not runbook input, they come from the catalogue only (dr.drill.checks)',
  });

/**
 * The whole EventBridge event, for the handler's edge validation: an RDS instance event with the
 * fields a continuation needs.
 */
export const rdsInstanceEventSchema = z.looseObject({
  source: z.literal("aws.rds"),
  "detail-type": z.literal("RDS DB Instance Event"),
  account: z.string().optional(),
  region: z.string().optional(),
  time: z.string().optional(),
  detail: z.looseObject({
    SourceType: z.string().min(1),
    SourceIdentifier: z.string().min(1),
    Date: z.string().min(1),
    Message: z.string().optional(),
    EventID: z.string().optional(),
    EventCategories: z.array(z.string()).optional(),
  }),
});

/** A parsed RDS instance event detail. */
export type RdsInstanceEventDetail = z.output<typeof rdsInstanceEventDetailSchema>;

/** RDS prefixes automated-snapshot style identifiers with `rds:` in some events; the instance id is after it. */
export function instanceIdOfEvent(detail: Pick<RdsInstanceEventDetail, "SourceIdentifier">): string {
  return detail.SourceIdentifier.replace(/^rds:/, "");
}
