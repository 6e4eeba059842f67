import { z } from "zod";

/**
 * Input field helpers. Inputs arrive as JSON (events) or as `key=value` strings (CLI, Slack), so each
 * field accepts both forms and says what it allows.
 */

/** `true`/`false` as a boolean or the strings true/false/yes/no/1/0. */
export const booleanish = z.union([
  z.boolean(),
  z
    .enum(["true", "false", "yes", "no", "1", "0"], { message: "must be true or false" })
    .transform((v) => v === "true" || v === "yes" || v === "1"),
]);

/** A whole number given as a number or a string. */
export const wholeNumber = (min: number, max: number) =>
  z.coerce.number({ message: "must be a whole number" }).int("must be a whole number").min(min).max(max);
