import { z } from "zod";

/** What an RDS drill leaves in S3 for its continuation (expectations are too big for tags). */
export const rdsDrillPlanSchema = z.object({
  version: z.literal(1),
  drillId: z.string(),
  system: z.string(),
  database: z.string(),
  instanceId: z.string(),
  source: z.enum(["rds-pitr", "rds-snapshot"]),
  sourceInstance: z.string(),
  snapshot: z.string().optional(),
  startedAt: z.string(),
  deadline: z.string(),
  recoveryPoint: z.string(),
  tableCount: z.number().int().optional(),
  tables: z.array(z.object({ schema: z.string(), name: z.string(), rows: z.number(), exact: z.boolean() })),
  rowTolerancePercent: z.number(),
  // No checks: S3 is not a source of SQL. The continuation reads them from the catalogue.
  warnings: z.array(z.string()),
});

/** An RDS drill's plan. */
export type RdsDrillPlan = z.infer<typeof rdsDrillPlanSchema>;
