/**
 * Retry of throttled AWS calls, on top of the SDK's own adaptive retry.
 *
 * Why a second layer: the SDK retries each call a few times from one shared token bucket; when a run over
 * hundreds of services meets a burst of throttling, the SDK can give up on a call that would succeed a
 * moment later, and that service would be reported failed for a transient reason. This layer retries only
 * throttling (never a real error), a few times, with jittered exponential backoff, and stops waiting as
 * soon as the run is aborted.
 */

/** Error names AWS services use for "slow down". */
const THROTTLING_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestThrottledException",
  "RequestThrottled",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "SlowDown",
  "PriorRequestNotComplete",
  // Application Auto Scaling: another update of the same target is in flight; retrying is the documented fix.
  "ConcurrentUpdateException",
]);

/** True for an error that means "try again later" (by name, by the SDK's own flag, or HTTP 429). */
export function isThrottlingError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as {
    name?: unknown;
    code?: unknown;
    $retryable?: { throttling?: boolean };
    $metadata?: { httpStatusCode?: number };
    status?: unknown;
  };
  if (typeof e.name === "string" && THROTTLING_NAMES.has(e.name)) return true;
  if (typeof e.code === "string" && THROTTLING_NAMES.has(e.code)) return true;
  if (e.$retryable?.throttling === true) return true;
  // Kubernetes API errors (`KubeApiError`) carry the HTTP status itself: 429 is its "slow down" (API priority
  // and fairness).
  return e.$metadata?.httpStatusCode === 429 || e.status === 429;
}

/** Options of {@link retryThrottled}. */
export interface RetryOptions {
  /** Total attempts, first one included (default 4). */
  attempts?: number;
  /** Backoff base: attempt n waits a random time up to `baseDelayMs * 2^(n-1)` (default 200 ms). */
  baseDelayMs?: number;
  /** Longest single wait (default 5 s). */
  maxDelayMs?: number;
  /** Aborting stops the wait at once; the last throttling error is thrown. */
  signal?: AbortSignal | undefined;
  /** Called before each wait, e.g. to log it. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  /** Source of jitter in [0, 1); injectable for tests. */
  random?: () => number;
  /**
   * Runs each attempt — not the waits between attempts — through a concurrency limiter, so a call
   * backing off does not hold a slot another call could use.
   */
  limit?: <T>(call: () => Promise<T>) => Promise<T>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs `call`, retrying it while it fails with a throttling error (see the module comment). */
export async function retryThrottled<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const base = options.baseDelayMs ?? 200;
  const cap = options.maxDelayMs ?? 5_000;
  const random = options.random ?? Math.random;
  const { limit } = options;
  const attemptOnce = limit ? () => limit(call) : call;
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce();
    } catch (error) {
      if (attempt >= attempts || !isThrottlingError(error)) throw error;
      // Full jitter: spreads the retries of many concurrent callers instead of having them collide again.
      const delayMs = Math.round(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      options.onRetry?.({ attempt, delayMs, error });
      if (!(await sleep(delayMs, options.signal))) throw error;
    }
  }
}
