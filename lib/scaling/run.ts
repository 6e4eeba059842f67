import type { ReportBuilder } from "../../runbooks/report.js";
import type { RunbookContext } from "../../runbooks/types.js";
import { errorMessage } from "../errors.js";
import { formatLocal } from "../timezone.js";
import type { Actuator } from "./apply.js";
import { loadServices, type ServiceSnapshot } from "./ecs.js";
import { createLimiter, type Limiter, mapPool } from "./pool.js";
import type { RetryOptions } from "./retry.js";

/** Default number of AWS calls in flight at once. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Services in progress per call slot: with two services per slot, one waiting out a throttling backoff
 * leaves its slot to another instead of idling it.
 */
const SERVICES_PER_SLOT = 2;

/** Retry settings for a run: every attempt through the run's limiter, no waiting once aborted, each retry logged. */
export function runRetry(ctx: RunbookContext, limit: Limiter): RetryOptions {
  return {
    signal: ctx.signal,
    limit,
    onRetry: ({ attempt, delayMs, error }) =>
      ctx.logger.warn("throttled; retrying", { attempt, delayMs, error: errorMessage(error) }),
  };
}

/** An instant in the system's zone, for reasons people read (`2026-11-21 20:00 +02:00`). */
export function localTime(ctx: Pick<RunbookContext, "system">, instant: Date): string {
  return formatLocal(instant, ctx.system.timezone);
}

/** Options of {@link forEachService}. */
export interface ForEachServiceOptions {
  ctx: RunbookContext;
  report: ReportBuilder;
  runbook: string;
  cluster: string;
  names: readonly string[];
  concurrency: number;
  /** Handles one described service; a throw becomes a `failed` action for that service only. */
  handle: (service: ServiceSnapshot, resource: string, actuator: Actuator) => Promise<void>;
}

/**
 * Describes the services in batches, then hands each to `handle` through a bounded pool. Per-service
 * results: a service that cannot be read or whose handler throws is reported failed and the others go on.
 * When the context's signal fires (the Lambda deadline nears), no new service is started and the run is
 * marked aborted with the list of services left as they were.
 */
export async function forEachService(options: ForEachServiceOptions): Promise<void> {
  const { ctx, report, runbook, cluster, names } = options;
  const resource = (name: string) => `${cluster}/${name}`;
  if (ctx.signal?.aborted) {
    report.markAborted(`stopped before starting; ${names.length} service(s) left as they were: ${names.join(", ")}`);
    return;
  }
  // One limiter for every call of the run: `concurrency` is the number of AWS calls in flight.
  const retry = runRetry(ctx, createLimiter(options.concurrency));
  const actuator: Actuator = { ecs: ctx.clients.ecs, autoscaling: ctx.clients.autoscaling, cluster, retry };
  const { lookups } = await loadServices({
    ecs: ctx.clients.ecs,
    autoscaling: ctx.clients.autoscaling,
    cluster,
    names,
    concurrency: options.concurrency,
    signal: ctx.signal,
    retry,
  });
  const outcomes = await mapPool(
    names,
    options.concurrency * SERVICES_PER_SLOT,
    async (name) => {
      const lookup = lookups.get(name);
      if (!lookup) return false;
      if (!lookup.ok) {
        report.add({ resource: resource(name), action: runbook, status: "failed", reason: lookup.reason });
        return true;
      }
      try {
        await options.handle(lookup.snapshot, resource(name), actuator);
      } catch (error) {
        report.add({ resource: resource(name), action: runbook, status: "failed", reason: errorMessage(error) });
      }
      return true;
    },
    { signal: ctx.signal },
  );
  const untouched = names.filter((_, i) => {
    const outcome = outcomes[i];
    return outcome?.status !== "done" || outcome.value === false;
  });
  if (untouched.length > 0) {
    report.markAborted(
      `stopped before the deadline; ${untouched.length} service(s) left as they were: ${untouched.join(", ")}`,
    );
  }
}
