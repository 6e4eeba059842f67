import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Slack's request signature (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the app's signing secret. Pure: the clock
 * and the secret come in. Checked before the body is parsed, so a forged request never reaches the
 * form parser, the authorizer or a log line.
 */

/** Requests older or newer than this are refused: a captured request cannot be replayed later. */
export const MAX_SKEW_SECONDS = 5 * 60;

/** Why a request was refused (logged; never the body). */
export type VerifyFailure =
  | "missing-signature"
  | "missing-timestamp"
  | "bad-timestamp"
  | "stale-timestamp"
  | "bad-signature"
  | "replayed";

/** The outcome of {@link verifySlackSignature}. */
export type VerifyResult = { ok: true; timestamp: number; signature: string } | { ok: false; reason: VerifyFailure };

/** Options of {@link verifySlackSignature}. */
export interface VerifyOptions {
  signingSecret: string;
  /** `X-Slack-Signature`. */
  signature: string | undefined;
  /** `X-Slack-Request-Timestamp` (Unix seconds). */
  timestamp: string | undefined;
  /** The body exactly as received (after base64 decoding), not re-encoded. */
  rawBody: string;
  now: Date;
}

/** `v0=` + hex HMAC-SHA256 over `v0:{timestamp}:{body}`: what Slack sends, and what tests sign with. */
export function slackSignature(signingSecret: string, timestamp: string | number, rawBody: string): string {
  return `v0=${createHmac("sha256", signingSecret).update(`v0:${timestamp}:${rawBody}`).digest("hex")}`;
}

/** Checks the headers and the signature; says why when it refuses. */
export function verifySlackSignature(options: VerifyOptions): VerifyResult {
  const { signature, timestamp } = options;
  if (!signature) return { ok: false, reason: "missing-signature" };
  if (!timestamp) return { ok: false, reason: "missing-timestamp" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "bad-timestamp" };
  const seconds = Number(timestamp);
  if (Math.abs(options.now.getTime() / 1000 - seconds) > MAX_SKEW_SECONDS) {
    return { ok: false, reason: "stale-timestamp" };
  }
  const expected = Buffer.from(slackSignature(options.signingSecret, timestamp, options.rawBody), "utf8");
  const given = Buffer.from(signature, "utf8");
  // timingSafeEqual throws on unequal lengths; a length mismatch reveals nothing about the secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: "bad-signature" };
  }
  return { ok: true, timestamp: seconds, signature };
}
