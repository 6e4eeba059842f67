import { errorMessage } from "../../lib/errors.js";
import { createLimiter, type Limiter, mapPool } from "../../lib/pool.js";
import type { RetryOptions } from "../../lib/retry.js";
import { plural } from "../../lib/text.js";
import { formatLocal } from "../../lib/timezone.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import type { Workload, WorkloadBackend } from "./backend.js";
import { ecsBackend } from "./ecs-backend.js";
import { isWriteConflict } from "./errors.js";
import type { ScalingScope } from "./scope.js";

/** Default number of API calls in flight at once (AWS or Kubernetes). */
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

/** Options of {@link forEachWorkload}. */
export interface ForEachWorkloadOptions {
  ctx: RunbookContext;
  report: ReportBuilder;
  runbook: string;
  backend: WorkloadBackend;
  names: readonly string[];
  concurrency: number;
  /**
   * Handles one workload; a throw becomes a `failed` action for that workload only, except a lost write
   * race (`isWriteConflict`), after which the workload is read again and handed over afresh.
   */
  handle: (workload: Workload, resource: string, backend: WorkloadBackend) => Promise<void>;
}

/** Attempts at one workload when its writes keep losing races (HTTP 409) before it is reported failed. */
export const CONFLICT_ATTEMPTS = 5;

/**
 * Reads the workloads through the backend, then hands each to `handle` through a bounded pool. Per-workload
 * results: one that cannot be read or whose handler throws is reported failed and the others go on. A write
 * that lost a race is retried on a fresh read, so the rules decide on what is there now — never on a copy
 * someone changed meanwhile. When the context's signal fires (the Lambda deadline nears), no new workload is
 * started and the run is marked aborted with the list of workloads left as they were.
 */
export async function forEachWorkload(options: ForEachWorkloadOptions): Promise<void> {
  const { ctx, report, runbook, backend, names } = options;
  if (ctx.signal?.aborted) {
    report.markAborted(
      `stopped before starting; ${plural(names.length, backend.noun)} left as they were: ${names.join(", ")}`,
    );
    return;
  }
  const { lookups } = await backend.load(names);
  const fail = (name: string, reason: string) =>
    report.add({ resource: backend.resource(name), action: runbook, status: "failed", reason });
  const outcomes = await mapPool(
    names,
    options.concurrency * SERVICES_PER_SLOT,
    async (name) => {
      let lookup = lookups.get(name);
      if (!lookup) return false;
      for (let attempt = 1; ; attempt++) {
        if (!lookup.ok) {
          fail(name, lookup.reason);
          return true;
        }
        try {
          await options.handle(lookup.workload, backend.resource(name), backend);
          return true;
        } catch (error) {
          if (!isWriteConflict(error) || !backend.reload || attempt >= CONFLICT_ATTEMPTS) {
            fail(name, errorMessage(error));
            return true;
          }
          ctx.logger.info("write conflict; reading again", { workload: name, attempt, error: errorMessage(error) });
          lookup = await backend.reload(name);
        }
      }
    },
    { signal: ctx.signal },
  );
  const untouched = names.filter((_, i) => {
    const outcome = outcomes[i];
    return outcome?.status !== "done" || outcome.value === false;
  });
  if (untouched.length > 0) {
    report.markAborted(
      `stopped before the deadline; ${plural(untouched.length, backend.noun)} left as they were: ${untouched.join(", ")}`,
    );
  }
}

/**
 * The backend a scaling run acts through: ECS services, or the deployments of an EKS cluster reached as
 * the function's IAM identity (`lib/kube/eks.ts`). A cluster that cannot be reached yields a backend that
 * reports every deployment failed with the reason — the run still reports per resource.
 */
export async function openBackend(
  ctx: RunbookContext,
  scope: Exclude<ScalingScope, { kind: "skip" }>,
  concurrency: number,
): Promise<WorkloadBackend> {
  // One limiter for every call of the run: `concurrency` is the number of API calls in flight.
  const retry = runRetry(ctx, createLimiter(concurrency));
  if (scope.kind === "ecs") {
    return ecsBackend({
      clients: ctx.clients,
      cluster: scope.cluster,
      sizes: new Map(scope.services.map((s) => [s.name, { cpuUnits: s.cpuUnits, memoryMiB: s.memoryMiB }])),
      concurrency,
      signal: ctx.signal,
      retry,
    });
  }
  const { cluster, namespace } = scope;
  // Loaded only for EKS: @kubernetes/client-node takes ~1 s to import, which no ECS or backup run should pay.
  const { eksBackend, unreachableBackend } = await import("./eks.js");
  const { connectEks } = await import("../../lib/kube/eks.js");
  try {
    const connection = await connectEks({
      eks: ctx.clients.eks,
      cluster,
      region: ctx.system.account.region,
      now: ctx.now(),
    });
    return eksBackend({ api: connection.api, cluster, namespace, concurrency, signal: ctx.signal, retry });
  } catch (error) {
    return unreachableBackend({ cluster, namespace, reason: errorMessage(error) });
  }
}
