import type { Endpoint } from "../../lib/health/endpoints.js";
import { evaluateSamples, type ProbeSample, type ProbeState } from "../../lib/health/evaluate.js";
import { probeEndpoint } from "../../lib/health/probe.js";
import type { RunbookContext } from "../types.js";

/** The schedule fires every minute (Scheduler's finest rate): a 30-s interval is two samples a run. */
export const SCHEDULE_MS = 60_000;

/** What one run saw of one endpoint. */
export interface Sampled {
  samples: ProbeSample[];
  state: ProbeState;
}

/**
 * One run's samples of one endpoint (ECS service or Kubernetes deployment alike), `interval` apart, each
 * folded into the state carried from the last run. Stops at the unhealthy threshold: act now, not after the
 * rest of this run's samples.
 */
export async function sampleEndpoint(
  ctx: RunbookContext,
  endpoint: Endpoint,
  before: ProbeState,
  samplesAsked: number | undefined,
): Promise<Sampled> {
  const intervalMs = endpoint.thresholds.intervalSeconds * 1000;
  const count = samplesAsked ?? Math.max(1, Math.floor(SCHEDULE_MS / intervalMs));
  const samples: ProbeSample[] = [];
  let state = before;
  for (let i = 0; i < count && !ctx.signal?.aborted; i++) {
    if (i > 0) await (ctx.sleep ?? defaultSleep)(intervalMs, ctx.signal);
    const sample = await probeEndpoint({
      url: endpoint.url,
      timeoutMs: endpoint.thresholds.timeoutSeconds * 1000,
      now: ctx.now,
      signal: ctx.signal,
    });
    samples.push(sample);
    state = evaluateSamples(state, [sample], endpoint.thresholds);
    if (state.verdict === "unhealthy") break;
  }
  return { samples, state };
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
