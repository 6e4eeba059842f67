/**
 * Secret redaction. Applied to every log record (as the logger's JSON replacer), to pg_dump's stderr
 * and to anything a report quotes from the outside world, so that a password never reaches a log,
 * a Slack message or an audit record.
 */

const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|credential|signature|session/i;
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)([^@/\s]+)(@)/gi;
const KEYWORD_PASSWORD = /\b(password|pwd|secret|token)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,]+)/gi;

/** Placeholder that replaces every secret. */
export const REDACTED = "[redacted]";

/** Removes passwords from connection URLs and `password=...` style fragments in free text. */
export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, `$1${REDACTED}$3`).replace(KEYWORD_PASSWORD, `$1$2${REDACTED}`);
}

/** True when a field of this name holds a secret whatever its value. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** JSON replacer: secret-named fields are replaced, strings are scrubbed of embedded credentials. */
export function redactReplacer(key: string, value: unknown): unknown {
  if (key && isSecretKey(key) && value !== undefined && value !== null && value !== "") return REDACTED;
  if (typeof value === "string") return redactText(value);
  return value;
}

/** Deep copy of a value with every secret removed (for reports and notifications). */
export function redactValue<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, redactReplacer)) as T;
}
