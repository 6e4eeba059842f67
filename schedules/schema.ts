import { z } from "zod";
import { parseScheduleExpression } from "../lib/cron.js";
import { errorMessage } from "../lib/errors.js";
import { isValidTimeZone } from "../lib/timezone.js";

/**
 * One schedule: run `runbook` for `system` whenever `expression` fires in `timezone` (the system's own
 * zone when omitted, so "03:00" means 03:00 where the system's team lives).
 */
export const scheduleSchema = z
  .strictObject({
    system: z.string().min(1),
    runbook: z.string().min(1),
    expression: z.string().superRefine((value, ctx) => {
      try {
        parseScheduleExpression(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: errorMessage(error) });
      }
    }),
    timezone: z
      .string()
      .refine(isValidTimeZone, { message: "must be an IANA time zone such as Africa/Johannesburg or UTC" })
      .optional(),
    input: z.record(z.string(), z.unknown()).default({}),
    description: z.string().min(1),
    /** Distinguishes two schedules of the same runbook for the same system. */
    suffix: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .optional(),
  })
  .readonly();

/** A schedule as written in a catalogue. */
export type ScheduleInput = z.input<typeof scheduleSchema>;

/** A schedule with its id and time zone resolved. */
export interface Schedule {
  id: string;
  system: string;
  runbook: string;
  expression: string;
  timezone: string;
  input: Record<string, unknown>;
  description: string;
}
