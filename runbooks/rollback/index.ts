import { errorMessage, UnknownNameError, ValidationError } from "../../lib/errors.js";
import { clusterName, serviceArn } from "../../lib/iam.js";
import { redactText } from "../../lib/redact.js";
import type { System } from "../../systems/schema.js";
import { ReportBuilder } from "../report.js";
import type { Permission, Report, Runbook, RunbookContext } from "../types.js";
import { describeServices } from "./ecs.js";
import { type RollbackInput, rollbackInputSchema, type Trigger } from "./input.js";
import type { Escalation } from "./plan.js";
import { type RollbackOutcome, rollbackService } from "./run.js";

/** The ECS "Deployment State Change" events rollback and known-good tracking act on. */
export const ecsDeploymentEventPattern = {
  source: ["aws.ecs"],
  "detail-type": ["ECS Deployment State Change"],
  detail: { eventName: ["SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"] },
} as const;

/** ARNs of the system's ECS services (new ARN format, which tagging requires). */
export function serviceArns(system: System): string[] {
  if (system.runtime.kind !== "ecs") return [];
  const { cluster } = system.runtime;
  return system.runtime.services.map((s) => serviceArn(system, cluster, s.name));
}

/**
 * Read the services, point one at another task definition, record the rollback on it. No `iam:PassRole`:
 * UpdateService with a task definition that is already registered passes no role (the task and execution
 * roles were passed when that revision was registered).
 */
export function rollbackPermissions(system: System): Permission[] {
  if (system.runtime.kind !== "ecs" || !system.rollback.enabled) return [];
  return [
    { actions: ["ecs:DescribeServices", "ecs:UpdateService", "ecs:TagResource"], resources: serviceArns(system) },
  ];
}

/** Which service a run is about: `service=`, the alarm's service, or the system's only one. */
export function resolveService(system: System, input: Pick<RollbackInput, "service" | "trigger">): string {
  if (system.runtime.kind !== "ecs") throw new ValidationError(`system "${system.id}" runs no ECS services`);
  const names = system.runtime.services.map((s) => s.name);
  const asked = input.service ?? (input.trigger.kind === "alarm" ? input.trigger.service : undefined);
  if (asked === undefined) {
    if (names.length === 1 && names[0]) return names[0];
    throw new ValidationError(`service= is required for system "${system.id}": one of ${names.join(", ")}`);
  }
  if (!names.includes(asked)) throw new UnknownNameError("service", asked, names);
  return asked;
}

/**
 * Rollback on failed health: an ECS service back on its last known-good task definition, with guards
 * (`plan.ts`), followed until steady and healthy (`follow.ts`).
 */
export const rollbackRunbook: Runbook<typeof rollbackInputSchema> = {
  name: "rollback",
  description:
    "roll an ECS service back to its last known-good task definition (on an alarm, the health probe, a failed deployment or by hand), with guards, followed until healthy",
  destructive: false,
  input: rollbackInputSchema,
  timeoutSeconds: 900,
  eventRules: [
    { name: "RollbackEcsDeploymentEvents", handler: "functions/ecs-event.handler", pattern: ecsDeploymentEventPattern },
  ],
  // Triggered by ECS deployment events, the probe, alarms and people, never scheduled: it serves the ECS
  // systems whose rollback is on.
  serves: (system) => rollbackPermissions(system).length > 0,
  permissions: rollbackPermissions,
  planNote(system) {
    if (system.runtime.kind === "ecs") return undefined;
    return system.runtime.kind === "eks"
      ? "skipped: EKS deployments roll back through kube-rollback (and the health probe)"
      : "skipped: no container runtime";
  },
  async run(ctx, input) {
    const report = new ReportBuilder(ctx, "rollback");
    if (ctx.system.runtime.kind !== "ecs") {
      report.add({
        resource: ctx.system.id,
        action: "rollback",
        status: "skipped",
        reason:
          ctx.system.runtime.kind === "eks"
            ? "EKS: deployments roll back through kube-rollback (and the health probe), not this runbook"
            : "no container runtime: nothing to roll back",
      });
      return report.finish({ summary: "skipped: not an ECS system" });
    }
    const service = resolveService(ctx.system, input);
    report.details.trigger = input.trigger;
    try {
      const { found, missing } = await describeServices(
        ctx.clients.ecs,
        clusterName(ctx.system.runtime.cluster),
        [service],
        ctx.signal,
      );
      const state = found.get(service);
      if (!state) {
        report.add({
          resource: service,
          action: "rollback",
          status: "failed",
          reason: missing.get(service) ?? "not found",
        });
        return report.finish({ summary: `${service}: ${missing.get(service) ?? "not found"}` });
      }
      const outcome = await rollbackService(ctx, report, {
        state,
        trigger: input.trigger,
        follow: input.follow,
        ...(input.to ? { to: input.to } : {}),
      });
      return finishRollback(ctx, report, service, input.trigger, outcome);
    } catch (error) {
      report.add({ resource: service, action: "rollback", status: "failed", reason: redactText(errorMessage(error)) });
      return report.finish({ summary: `${service}: could not read the service: ${redactText(errorMessage(error))}` });
    }
  },
};

/** Puts the decision, timeline and escalation on the report, and the one line a person reads. */
export function finishRollback(
  ctx: RunbookContext,
  report: ReportBuilder,
  service: string,
  trigger: Trigger,
  outcome: RollbackOutcome,
): Report {
  const { timeline } = outcome;
  Object.assign(report.details, rollbackDetails(ctx, outcome));
  for (const key of ["triggerToIssuedMs", "issuedToHealthyMs", "triggerToHealthyMs"] as const) {
    const value = timeline[key];
    if (value !== undefined) report.metric(key, value);
  }
  const limit = ctx.system.rollback.maxMinutes;
  const missedLimit = limit !== undefined && (timeline.triggerToHealthyMs ?? 0) > limit * 60_000;
  return report.finish({
    summary: summaryOf(service, trigger, outcome, limit),
    ...(missedLimit ? { status: "partial" as const } : {}),
  });
}

/**
 * The structured part of a rollback's report: decision (with its guard), timeline, ECS events, and an
 * `escalation` (`{severity, reason}`) that the alarm router pages on.
 */
export function rollbackDetails(ctx: RunbookContext, outcome: RollbackOutcome): Record<string, unknown> {
  const { decision } = outcome;
  const escalation = escalationOf(ctx, outcome);
  return {
    decision: { kind: decision.kind, ...(decision.kind === "rollback" ? {} : { guard: decision.guard }) },
    timeline: outcome.timeline,
    ...(outcome.events ? { events: outcome.events } : {}),
    ...(escalation ? { escalation } : {}),
    ...(decision.kind === "manual" ? { instructions: decision.instructions } : {}),
  };
}

function escalationOf(ctx: RunbookContext, outcome: RollbackOutcome): Escalation | undefined {
  const { decision } = outcome;
  if (decision.kind === "blocked" && decision.escalation) return decision.escalation;
  if (decision.kind === "manual")
    return { severity: "critical", reason: `${decision.reason}: ${decision.instructions}` };
  if (decision.kind === "rollback" && outcome.healthy === false) {
    return {
      severity: "critical",
      reason: `rolled back ${decision.from} → ${decision.to} but ${ctx.system.id} is not healthy again`,
    };
  }
  return undefined;
}

const seconds = (ms: number | undefined) => (ms === undefined ? "?" : `${(ms / 1000).toFixed(1)} s`);

function summaryOf(service: string, trigger: Trigger, outcome: RollbackOutcome, limit: number | undefined): string {
  const { decision, timeline } = outcome;
  if (decision.kind !== "rollback") return `${service}: no rollback (${decision.guard}): ${decision.reason}`;
  const head = `${service}: ${trigger.kind} → rollback ${decision.from} → ${decision.to}`;
  if (!timeline.issuedAt) return `${head} (would roll back)`;
  const issued = `issued ${seconds(timeline.triggerToIssuedMs)} after the trigger`;
  if (outcome.healthy === undefined) return `${head}: ${issued}`;
  if (!outcome.healthy) return `${head}: ${issued}; NOT healthy again`;
  const judged =
    limit === undefined
      ? ""
      : ` (limit ${limit} min: ${(timeline.triggerToHealthyMs ?? 0) <= limit * 60_000 ? "met" : "MISSED"})`;
  return `${head}: ${issued}, healthy ${seconds(timeline.issuedToHealthyMs)} later; trigger → healthy ${seconds(timeline.triggerToHealthyMs)}${judged}`;
}
