import { z } from "zod";

/**
 * Input field helpers. Inputs arrive as JSON (events) or as `key=value` strings (CLI, Slack), so each
 * field accepts both forms and says what it allows.
 */

/** `true`/`false` as a boolean or the strings true/false/yes/no/1/0: the one parser, shared with the settings. */
export { booleanish } from "../lib/settings.js";

/** A whole number given as a number or a string. */
export const wholeNumber = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ message }).int(message).min(min, message).max(max, message);
};
