import { errorMessage } from "../../lib/errors.js";
import { endpointsOf } from "../../lib/health/endpoints.js";
import { probeEndpoint } from "../../lib/health/probe.js";
import { clusterName } from "../../lib/iam.js";
import { redactText } from "../../lib/redact.js";
import { plural } from "../../lib/text.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import { issueRollback } from "./apply.js";
import type { ServiceState } from "./ecs.js";
import { followRollback } from "./follow.js";
import type { Trigger } from "./input.js";
import { decideRollback, type RollbackDecision } from "./plan.js";
import { revisionOf } from "./tags.js";

/** Between two DescribeServices while following. */
export const FOLLOW_POLL_MS = 10_000;

/** Options of {@link rollbackService}. */
export interface RollbackServiceOptions {
  state: ServiceState;
  trigger: Trigger;
  to?: string;
  follow: boolean;
}

/** Trigger → rollback issued → healthy, each step's instant and the spans between them. */
export interface Timeline {
  triggerAt: string;
  receivedAt: string;
  issuedAt?: string;
  steadyAt?: string;
  healthyAt?: string;
  triggerToIssuedMs?: number;
  issuedToHealthyMs?: number;
  triggerToHealthyMs?: number;
}

/** What one service's rollback decided and did (also used by the health probe when it triggers one). */
export interface RollbackOutcome {
  decision: RollbackDecision;
  timeline: Timeline;
  healthy?: boolean;
  events?: { at: string; message: string }[];
}

/**
 * Decides for one service and carries the decision out: issue the update, follow it until steady with the
 * probe passing. Every outcome is one action on the report; nothing here throws for a refused rollback.
 */
export async function rollbackService(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: RollbackServiceOptions,
): Promise<RollbackOutcome> {
  const { state, trigger } = options;
  const received = ctx.now();
  const triggerAt = trigger.at ? new Date(trigger.at) : received;
  const timeline: Timeline = { triggerAt: triggerAt.toISOString(), receivedAt: received.toISOString() };
  const to = options.to ? resolveTo(options.to, state.facts.current) : undefined;
  const decision = decideRollback({
    facts: state.facts,
    rules: ctx.system.rollback,
    trigger: { kind: trigger.kind, at: triggerAt },
    now: received,
    dryRun: ctx.dryRun,
    ...(to ? { to } : {}),
  });
  const resource = state.facts.name;
  if (decision.kind !== "rollback") {
    report.add({
      resource,
      action: "rollback",
      status: "skipped",
      reason: `${decision.guard}: ${decision.reason}${decision.kind === "manual" ? `; a person should ${decision.instructions}` : ""}`,
      before: state.facts.current,
    });
    return { decision, timeline };
  }
  const taskDefinition =
    state.knownGoodArn && revisionOf(state.knownGoodArn) === decision.to ? state.knownGoodArn : decision.to;
  if (!decision.send) {
    report.add({
      resource,
      action: "rollback",
      status: "would-do",
      reason: decision.reason,
      before: decision.from,
      after: decision.to,
    });
    return { decision, timeline };
  }
  const cluster = clusterName(ctx.system.runtime.kind === "ecs" ? ctx.system.runtime.cluster : "");
  try {
    const issued = await issueRollback(ctx, {
      cluster,
      state,
      from: decision.from,
      to: decision.to,
      taskDefinition,
      trigger: trigger.kind,
    });
    timeline.issuedAt = issued.at.toISOString();
    timeline.triggerToIssuedMs = issued.at.getTime() - triggerAt.getTime();
    report.add({
      resource,
      action: "rollback",
      status: "done",
      reason: `${decision.reason}; UpdateService sent${issued.deploymentId ? ` (deployment ${issued.deploymentId})` : ""}`,
      before: decision.from,
      after: decision.to,
    });
    if (!options.follow) return { decision, timeline };
    return await follow(ctx, report, { state, cluster, decision, issuedAt: issued.at, triggerAt, timeline });
  } catch (error) {
    report.add({
      resource,
      action: "rollback",
      status: "failed",
      reason: redactText(errorMessage(error)),
      before: decision.from,
      after: decision.to,
    });
    return { decision, timeline };
  }
}

async function follow(
  ctx: RunbookContext,
  report: ReportBuilder,
  step: {
    state: ServiceState;
    cluster: string;
    decision: Extract<RollbackDecision, { kind: "rollback" }>;
    issuedAt: Date;
    triggerAt: Date;
    timeline: Timeline;
  },
): Promise<RollbackOutcome> {
  const serviceName = step.state.service.serviceName ?? "";
  const endpoint = endpointsOf(ctx.system, serviceName)[0];
  const untilMs = step.issuedAt.getTime() + ctx.system.rollback.followMinutes * 60_000;
  const until = new Date(ctx.deadline ? Math.min(untilMs, ctx.deadline.getTime()) : untilMs);
  const result = await followRollback(ctx, {
    cluster: step.cluster,
    service: serviceName,
    target: step.decision.to,
    issuedAt: step.issuedAt,
    until,
    pollMs: FOLLOW_POLL_MS,
    ...(endpoint
      ? {
          probe: () =>
            probeEndpoint({
              url: endpoint.url,
              timeoutMs: endpoint.thresholds.timeoutSeconds * 1000,
              now: ctx.now,
              signal: ctx.signal,
            }),
        }
      : {}),
  });
  const timeline = step.timeline;
  if (result.steadyAt) timeline.steadyAt = result.steadyAt.toISOString();
  if (result.healthyAt) {
    timeline.healthyAt = result.healthyAt.toISOString();
    timeline.issuedToHealthyMs = result.healthyAt.getTime() - step.issuedAt.getTime();
    timeline.triggerToHealthyMs = result.healthyAt.getTime() - step.triggerAt.getTime();
  }
  report.add({
    resource: step.state.facts.name,
    action: "follow",
    status: result.healthy ? "done" : "failed",
    reason: result.healthy
      ? `steady on ${step.decision.to}${endpoint ? ` and ${endpoint.url} passes` : " (no probe-able health endpoint)"} after ${plural(result.polls, "poll")}`
      : (result.reason ?? "not healthy"),
  });
  return { decision: step.decision, timeline, healthy: result.healthy, events: result.events };
}

/** `7` → `<current family>:7`; an ARN → `family:revision`. */
export function resolveTo(to: string, current: string): string {
  if (/^\d+$/.test(to)) return `${current.split(":")[0] ?? ""}:${to}`;
  return revisionOf(to);
}
