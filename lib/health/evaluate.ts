/**
 * The health probe's verdict as a pure function of what it saw: consecutive failures and successes,
 * carried from one probe run to the next (kept on the resource by the caller), turned into a state.
 *
 * Why consecutive counts: one slow answer is noise, the unhealthy threshold (Flash Sale's guide: 3) is a
 * decision. The same rule ALB target groups apply, so a probe and the load balancer agree.
 */

/** How one probe of an endpoint went. */
export type ProbeFailure = "status" | "timeout" | "refused" | "body" | "error";

/** One sample: passed, or failed with the kind of failure and what was seen. */
export interface ProbeSample {
  ok: boolean;
  at: Date;
  /** How long the answer took (or until the timeout). */
  ms: number;
  status?: number;
  failure?: ProbeFailure;
  /** One line a person reads: `503 Service Unavailable`, `no answer within 5000 ms`, `connection refused`. */
  detail: string;
}

/** The probe's thresholds (the guide's, or the ALB defaults). */
export interface ProbeThresholds {
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Consecutive failures that make the target unhealthy. */
  unhealthyThreshold: number;
  /** Consecutive successes that make it healthy again. */
  healthyThreshold: number;
}

/** What is remembered between probe runs. */
export interface ProbeState {
  failures: number;
  successes: number;
  /** When the current run of failures (or successes) began. */
  since?: Date;
  /** The verdict at the last sample. */
  verdict: ProbeVerdict;
}

/**
 * `healthy`: at least the healthy threshold of passes in a row (or never failed); `failing`: failures,
 * fewer than the threshold; `unhealthy`: the threshold reached; `recovering`: passes again after being
 * unhealthy, fewer than the healthy threshold.
 */
export type ProbeVerdict = "healthy" | "failing" | "unhealthy" | "recovering";

/** The state before any sample: nothing has failed. */
export const INITIAL_PROBE_STATE: ProbeState = { failures: 0, successes: 0, verdict: "healthy" };

/** The state after one more sample. */
export function evaluateProbe(state: ProbeState, sample: ProbeSample, thresholds: ProbeThresholds): ProbeState {
  if (!sample.ok) {
    const failures = state.failures + 1;
    const since = state.failures > 0 && state.since ? state.since : sample.at;
    // A target that was unhealthy stays so until it passes the healthy threshold: one pass is not recovery.
    const wasDown = state.verdict === "unhealthy" || state.verdict === "recovering";
    const verdict = failures >= thresholds.unhealthyThreshold || wasDown ? "unhealthy" : "failing";
    return { failures, successes: 0, since, verdict };
  }
  // Counted up to the threshold only: a healthy endpoint then keeps the same state (no write every run).
  const successes = Math.min(state.successes + 1, thresholds.healthyThreshold);
  const since = state.successes > 0 && state.since ? state.since : sample.at;
  const wasDown = state.verdict === "unhealthy" || state.verdict === "recovering";
  const verdict = wasDown && successes < thresholds.healthyThreshold ? "recovering" : "healthy";
  return { failures: 0, successes, since, verdict };
}

/** Folds several samples in order. */
export function evaluateSamples(
  state: ProbeState,
  samples: readonly ProbeSample[],
  thresholds: ProbeThresholds,
): ProbeState {
  return samples.reduce((s, sample) => evaluateProbe(s, sample, thresholds), state);
}

/** Defaults where a guide is silent: the ALB target group's (30 s, 5 s, 3 unhealthy, 5 healthy → 2 here). */
export const DEFAULT_THRESHOLDS: ProbeThresholds = {
  intervalSeconds: 30,
  timeoutSeconds: 5,
  unhealthyThreshold: 3,
  healthyThreshold: 2,
};

/** The thresholds of a catalogue health check, the defaults filling what the guide leaves out. */
export function thresholdsOf(check: { [K in keyof ProbeThresholds]?: number | undefined }): ProbeThresholds {
  return {
    intervalSeconds: check.intervalSeconds ?? DEFAULT_THRESHOLDS.intervalSeconds,
    timeoutSeconds: check.timeoutSeconds ?? DEFAULT_THRESHOLDS.timeoutSeconds,
    unhealthyThreshold: check.unhealthyThreshold ?? DEFAULT_THRESHOLDS.unhealthyThreshold,
    healthyThreshold: check.healthyThreshold ?? DEFAULT_THRESHOLDS.healthyThreshold,
  };
}

const VERDICTS = new Set<ProbeVerdict>(["healthy", "failing", "unhealthy", "recovering"]);

/** `v1 verdict=failing failures=2 successes=0 since=2026-11-21T10:00:00Z`: the state as a tag value. */
export function formatProbeState(state: ProbeState): string {
  const since = state.since ? ` since=${state.since.toISOString().replace(/\.\d{3}Z$/, "Z")}` : "";
  return `v1 verdict=${state.verdict} failures=${state.failures} successes=${state.successes}${since}`;
}

/** Parses {@link formatProbeState}; anything unreadable starts afresh (a probe state is cheap to rebuild). */
export function parseProbeState(value: string | undefined): ProbeState {
  if (!value) return INITIAL_PROBE_STATE;
  const fields = new Map(
    value
      .trim()
      .split(/\s+/)
      .slice(1)
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)] as const),
  );
  const verdict = fields.get("verdict") as ProbeVerdict | undefined;
  const failures = Number(fields.get("failures"));
  const successes = Number(fields.get("successes"));
  if (!value.startsWith("v1 ") || !verdict || !VERDICTS.has(verdict)) return INITIAL_PROBE_STATE;
  if (!Number.isInteger(failures) || !Number.isInteger(successes)) return INITIAL_PROBE_STATE;
  const sinceMs = Date.parse(fields.get("since") ?? "");
  return { verdict, failures, successes, ...(Number.isNaN(sinceMs) ? {} : { since: new Date(sinceMs) }) };
}
