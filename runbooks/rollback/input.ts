import { z } from "zod";
import { booleanish } from "../inputs.js";

const instant = z.iso.datetime({ offset: true, message: "must be an ISO instant such as 2026-11-21T10:00:00Z" });

/**
 * What set a rollback off. The alarm function (CloudWatch "Alarm State Change"), the health probe, the
 * ECS deployment event and a person each send theirs; `at` is when the trigger happened (defaults to
 * when the run starts), so the report can time trigger → rollback issued → healthy.
 */
export const triggerSchema = z.discriminatedUnion(
  "kind",
  [
    z.looseObject({
      kind: z.literal("alarm"),
      alarmName: z.string().min(1),
      state: z.string().default("ALARM"),
      reason: z.string().optional(),
      /** The service the alarm is bound to (its `ServiceName` dimension), when the alarm names one. */
      service: z.string().min(1).optional(),
      at: instant.optional(),
    }),
    z.looseObject({
      kind: z.literal("probe"),
      url: z.string().optional(),
      failures: z.number().int().min(1).optional(),
      detail: z.string().optional(),
      at: instant.optional(),
    }),
    z.looseObject({
      kind: z.literal("deployment-failed"),
      deploymentId: z.string().min(1),
      reason: z.string().optional(),
      at: instant.optional(),
    }),
    z.looseObject({ kind: z.literal("manual"), by: z.string().optional(), at: instant.optional() }),
  ],
  { message: "trigger.kind must be one of alarm, probe, deployment-failed, manual" },
);

/** A parsed trigger. */
export type Trigger = z.output<typeof triggerSchema>;

const revision = z
  .string()
  .regex(
    /^(\d+|[A-Za-z0-9_-]{1,255}:\d+|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/[A-Za-z0-9_-]{1,255}:\d+)$/,
    "must be a revision number (7), family:revision (ez-backend:7) or a task definition ARN",
  );

/** Input of the `rollback` runbook: `service=X [to=<revision>]` by hand, or a trigger object from a handler. */
export const rollbackInputSchema = z.strictObject({
  /** The ECS service; may be left out when the system has one service or the alarm trigger names it. */
  service: z.string().min(1).optional(),
  /** Roll back to this revision instead of the last known-good (by hand). */
  to: revision.optional(),
  trigger: triggerSchema.default({ kind: "manual" }),
  /** Follow the rollback until healthy (the default); `false` issues it and returns. */
  follow: booleanish.default(true),
});

/** A parsed rollback input. */
export type RollbackInput = z.output<typeof rollbackInputSchema>;
