/**
 * Secret redaction: the one function every exit of the process applies — the runner to each report
 * before it is audited, notified or returned; the logger to every record (as its JSON replacer); the
 * CLI to everything it writes; the drill store to the records it saves. Code that builds a report or an
 * error message does not redact by hand: whatever it says passes one of these exits.
 */

const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key|credential|signature|session/i;

/**
 * `scheme://user:password@host`: the password runs to the last `@` of the token, so an unencoded `/`,
 * `@` or `:` in it is covered too (a URL parser would reject such a URL, but its text still gets quoted).
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@"'<>]*:)([^\s"'<>]*)(@)/gi;

/**
 * `password=…`, `PGPASSWORD=…`, `DB_PASSWORD: …`, `"password":"…"` and the same JSON escaped inside a
 * string (`\"password\":\"…\"`): a name that contains a secret word, an optional closing quote, `=` or
 * `:`, then a quoted or bare value. A value already `[redacted]` is left as it is (text may pass two exits).
 */
const KEYWORD_PASSWORD =
  /(\b[a-z0-9_]*(?:password|passwd|secret|token|api[-_]?key)[a-z0-9_]*|\bpwd|\bpass)((?:\\?["'])?\s*[=:]\s*)(\\"(?:[^\\]|\\(?!"))*\\"|"(?:[^"\\]|\\.)*"|'[^']*'|(?!\[redacted\])[^\s&;,"'}]+)/gi;

/** `Authorization: Bearer …` and the like: the credential after the scheme word. */
const BEARER = /\b(bearer|basic)(\s+)([a-z0-9._~+/=-]{8,})/gi;

/** Placeholder that replaces every secret. */
export const REDACTED = "[redacted]";

/** Keeps a quoted value's quotes so that redacted JSON text stays JSON. */
function replaceValue(value: string): string {
  if (value.startsWith('\\"')) return `\\"${REDACTED}\\"`;
  if (value.startsWith('"')) return `"${REDACTED}"`;
  if (value.startsWith("'")) return `'${REDACTED}'`;
  return REDACTED;
}

/**
 * An ARN names a resource and never holds a secret's value, but `arn:aws:secretsmanager:…:secret:name`
 * reads like `secret: value` to {@link KEYWORD_PASSWORD}: ARNs are left as they are (an IAM policy
 * printed by `ops iam` must stay a policy).
 */
const ARN = /\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?:\d{12}|\*)?:[^\s"'<>,]+/g;

/** Removes passwords from connection URLs, `key=value`/JSON fragments and bearer tokens in free text. */
export function redactText(text: string): string {
  let out = "";
  let last = 0;
  for (const match of text.matchAll(ARN)) {
    out += scrub(text.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + scrub(text.slice(last));
}

function scrub(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1${REDACTED}$3`)
    .replace(
      KEYWORD_PASSWORD,
      (_match, key: string, sep: string, value: string) => `${key}${sep}${replaceValue(value)}`,
    )
    .replace(BEARER, `$1$2${REDACTED}`);
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

/**
 * A stream that redacts each chunk before passing it on (the CLI's stdout and stderr). One write is one
 * line or one document in this project, so a secret is never split across two chunks.
 */
export function redactingStream<S extends NodeJS.WritableStream & { isTTY?: boolean }>(target: S): S {
  return new Proxy(target, {
    get(object, property, receiver) {
      if (property === "write") {
        return (chunk: unknown, ...rest: unknown[]) =>
          (object.write as (...args: unknown[]) => boolean).call(
            object,
            typeof chunk === "string" || Buffer.isBuffer(chunk) ? redactText(String(chunk)) : chunk,
            ...rest,
          );
      }
      const value = Reflect.get(object, property, receiver);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}
