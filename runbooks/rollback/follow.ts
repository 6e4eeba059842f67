import { DescribeServicesCommand, type Service } from "@aws-sdk/client-ecs";
import type { ProbeSample } from "../../lib/health/evaluate.js";
import type { RunbookContext } from "../types.js";
import { revisionOf } from "./tags.js";

/** Options of {@link followRollback}. */
export interface FollowOptions {
  cluster: string;
  service: string;
  /** `family:revision` the service must settle on. */
  target: string;
  issuedAt: Date;
  /** Give up (and report not healthy) at this instant. */
  until: Date;
  /** Between two DescribeServices (ECS updates deployment counters every few seconds). */
  pollMs: number;
  /** The service's health probe, once it is steady; absent: steady is healthy. */
  probe?: () => Promise<ProbeSample>;
}

/** How the rollback went, step by step. */
export interface FollowResult {
  healthy: boolean;
  steadyAt?: Date;
  healthyAt?: Date;
  /** The service's events since the rollback was issued, oldest first (what ECS said it did). */
  events: { at: string; message: string }[];
  polls: number;
  /** Why it is not healthy, when it is not. */
  reason?: string;
}

/**
 * Follows a rollback until the service is steady on the target and its health probe passes: each poll
 * reads the service (its deployments and its event log), so the report can quote what ECS did.
 */
export async function followRollback(ctx: RunbookContext, options: FollowOptions): Promise<FollowResult> {
  const sleep = ctx.sleep ?? realSleep;
  const seen = new Set<string>();
  const events: FollowResult["events"] = [];
  let polls = 0;
  let steadyAt: Date | undefined;
  let lastReason = "not yet steady";
  while (ctx.now().getTime() < options.until.getTime() && !ctx.signal?.aborted) {
    polls++;
    const steady = await pollService(ctx, options, { seen, events });
    if (steady === true) {
      steadyAt ??= ctx.now();
      const failing = await probeFailure(options);
      if (!failing) return { healthy: true, steadyAt, healthyAt: ctx.now(), events, polls };
      lastReason = failing;
    } else {
      lastReason = steady;
    }
    await sleep(options.pollMs, ctx.signal);
  }
  const minutes = Math.round((options.until.getTime() - options.issuedAt.getTime()) / 60_000);
  return {
    healthy: false,
    ...(steadyAt ? { steadyAt } : {}),
    events,
    polls,
    reason: `${ctx.signal?.aborted ? "stopped before the deadline" : `not healthy within ${minutes} min`}: ${lastReason}`,
  };
}

/** One DescribeServices: its new events are collected; true when steady on the target, else what is missing. */
async function pollService(
  ctx: RunbookContext,
  options: FollowOptions,
  log: { seen: Set<string>; events: FollowResult["events"] },
): Promise<true | string> {
  const out = await ctx.clients.ecs.send(
    new DescribeServicesCommand({ cluster: options.cluster, services: [options.service] }),
    ctx.signal ? { abortSignal: ctx.signal } : {},
  );
  const service = out.services?.[0];
  if (!service) return "service not found";
  collectEvents(service, options.issuedAt, log.seen, log.events);
  return steadyOn(service, options.target);
}

/** Why the health probe of a steady service fails; undefined when it passes or there is none. */
async function probeFailure(options: FollowOptions): Promise<string | undefined> {
  const sample = options.probe ? await options.probe() : undefined;
  if (!sample || sample.ok) return undefined;
  return `steady, but the health probe fails: ${sample.detail}`;
}

/** True when one deployment is left, of the target, with every task running; else what is missing. */
export function steadyOn(service: Service, target: string): true | string {
  const live = (service.deployments ?? []).filter((d) => d.status !== "INACTIVE");
  const primary = live.find((d) => d.status === "PRIMARY");
  if (!primary) return "no PRIMARY deployment";
  if (revisionOf(primary.taskDefinition ?? "") !== target) {
    return `PRIMARY runs ${revisionOf(primary.taskDefinition ?? "?")}, not ${target}`;
  }
  if (live.length > 1) return `${live.length} deployments still live`;
  if (primary.rolloutState && primary.rolloutState !== "COMPLETED") return `rollout ${primary.rolloutState}`;
  if ((primary.runningCount ?? 0) < (primary.desiredCount ?? 0)) {
    return `${primary.runningCount ?? 0} of ${primary.desiredCount ?? 0} tasks running`;
  }
  return true;
}

function collectEvents(service: Service, since: Date, seen: Set<string>, into: FollowResult["events"]): void {
  // ECS lists events newest first; the report wants them in the order they happened.
  const fresh = (service.events ?? []).filter(
    (e) => e.id && !seen.has(e.id) && e.createdAt && e.createdAt.getTime() >= since.getTime(),
  );
  for (const event of fresh.reverse()) {
    seen.add(event.id ?? "");
    into.push({ at: event.createdAt?.toISOString() ?? "", message: event.message ?? "" });
  }
}

/** A real timer that resolves early on abort (what `ctx.sleep` stands in for). */
export function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
