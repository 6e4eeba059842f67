import type { ProbeFailure, ProbeSample } from "./evaluate.js";

/** Options of {@link probeEndpoint}. */
export interface ProbeOptions {
  url: string;
  timeoutMs: number;
  now: () => Date;
  /** The run's abort signal: a probe in flight stops with it. */
  signal?: AbortSignal | undefined;
}

/** Bodies that say "down" although the status is 2xx (Spring's `/actuator/health`, many `/health`s). */
const DOWN_STATUSES = new Set(["down", "out_of_service", "fail", "unhealthy", "error"]);

/**
 * One HTTP GET of a health endpoint. Never throws: every way it can go wrong is a failed sample whose
 * `failure` says which (status, timeout, connection refused, a body that reports DOWN, anything else).
 */
export async function probeEndpoint(options: ProbeOptions): Promise<ProbeSample> {
  const at = options.now();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    const response = await fetch(options.url, { signal, redirect: "manual", headers: { accept: "application/json" } });
    const body = await response.text();
    if (response.status < 200 || response.status > 299) {
      return fail(at, elapsed(), "status", `${response.status} ${response.statusText}`.trim(), response.status);
    }
    const reported = reportedStatus(body);
    if (reported && DOWN_STATUSES.has(reported.toLowerCase())) {
      return fail(
        at,
        elapsed(),
        "body",
        `${response.status} but the body reports status "${reported}"`,
        response.status,
      );
    }
    return { ok: true, at, ms: elapsed(), status: response.status, detail: `${response.status} in ${elapsed()} ms` };
  } catch (error) {
    if (timeout.aborted) return fail(at, elapsed(), "timeout", `no answer within ${options.timeoutMs} ms`);
    const code = causeCode(error);
    if (code === "ECONNREFUSED") return fail(at, elapsed(), "refused", "connection refused");
    return fail(at, elapsed(), "error", code ? `request failed (${code})` : "request failed");
  }
}

function fail(at: Date, ms: number, failure: ProbeFailure, detail: string, status?: number): ProbeSample {
  return { ok: false, at, ms, failure, detail, ...(status !== undefined ? { status } : {}) };
}

/** `status` of a JSON body (`{"status":"UP"}`), when there is one. */
function reportedStatus(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === "object" && "status" in parsed && typeof parsed.status === "string") {
      return parsed.status;
    }
  } catch {
    // Not JSON: the status code alone decides.
  }
  return undefined;
}

/** undici wraps the socket error: `TypeError: fetch failed` with `cause.code`. */
function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown; errors?: { code?: unknown }[] } } | undefined)?.cause;
  if (typeof cause?.code === "string") return cause.code;
  const first = cause?.errors?.find((e) => typeof e.code === "string");
  return typeof first?.code === "string" ? first.code : undefined;
}
