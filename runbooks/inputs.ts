import { z } from "zod";

/**
 * Input field helpers. Inputs arrive as JSON (events) or as `key=value` strings (CLI, Slack), so each
 * field accepts both forms and says what it allows.
 */

/** `true`/`false` as a boolean or the strings true/false/yes/no/1/0. */
export const booleanish = z.preprocess(
  (value) => {
    if (typeof value !== "string") return value;
    const text = value.trim().toLowerCase();
    if (["true", "yes", "1"].includes(text)) return true;
    if (["false", "no", "0"].includes(text)) return false;
    return value;
  },
  z.boolean({ message: "must be true or false" }),
);

/** A whole number given as a number or a string. */
export const wholeNumber = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ message }).int(message).min(min, message).max(max, message);
};
