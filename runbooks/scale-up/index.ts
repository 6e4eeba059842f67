import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { plural } from "../../lib/text.js";
import { booleanish, wholeNumber } from "../inputs.js";
import type { ReportBuilder } from "../report.js";
import type { RestoreDecision, StepLog, Workload, WorkloadBackend } from "../scaling/backend.js";
import { capacityJson, decideScaleUp, describeCapacity } from "../scaling/decide.js";
import { isWriteConflict } from "../scaling/errors.js";
import { DEFAULT_CONCURRENCY, forEachWorkload, openBackend } from "../scaling/run.js";
import {
  openScalingRun,
  scalingKubernetesAccess,
  scalingPermissions,
  scalingPlanNote,
  scopeNames,
} from "../scaling/scope.js";
import { readRecord } from "../scaling/tags.js";
import { describePolicy, type RunWindowState, stateForRun } from "../scaling/window.js";
import type { Runbook, RunbookContext } from "../types.js";

const input = z.strictObject({
  /** Only this service. */
  service: z.string().min(1).optional(),
  /** Restore even inside the off-hours window (a holiday, a weekend, or by hand at night). */
  ignoreWindow: booleanish.default(false),
  /** AWS calls in flight at once. */
  concurrency: wholeNumber(1, 50).default(DEFAULT_CONCURRENCY),
});

function stillOff(state: RunWindowState): string {
  // Holidays and weekends are judged on the day the decision looked at (a run at 23:58 acts for 00:03).
  switch (state.why) {
    case "holiday":
      return `${state.decidedForDate} is a holiday: off-hours all day, services stay down until the next scale-up`;
    case "weekend":
      return `${state.decidedFor.split(" ")[0]} is a weekend day and weekends are off-hours: services stay down`;
    default:
      return `it is ${state.localTime}, inside the off-hours window (a late delivery of an earlier run?): services stay down`;
  }
}

/**
 * Off-hours scale-up: gives each ECS service of the system back exactly the desired count and autoscaling
 * bounds recorded by scale-down, then removes the record. A service with no record is not touched; one a
 * team lowered below the floor during the night stays where it is. On holidays and (when configured)
 * weekends the services stay down.
 */
export const scaleUpRunbook: Runbook<typeof input> = {
  name: "scale-up",
  description:
    "Off-hours end: restore each ECS service's or EKS deployment's recorded count and autoscaling bounds, then clear the record",
  destructive: false,
  input,
  timeoutSeconds: 300,
  permissions: (system) => scalingPermissions(system, "scale-up"),
  kubernetesAccess: (system) => scalingKubernetesAccess(system, "scale-up"),
  planNote: (system) => scalingPlanNote(system, "scale-up"),
  async run(ctx, options) {
    const opened = openScalingRun(ctx, "scale-up", options.service);
    if ("finished" in opened) return opened.finished;
    const { report, scope } = opened;
    const { system } = ctx;
    const policy = scope.policy;
    if (policy) {
      const state = stateForRun(policy, system.timezone, ctx.now());
      report.details.window = { policy: describePolicy(policy, system.timezone), state };
      if (state.off && !options.ignoreWindow) {
        report.add({
          resource: system.id,
          action: "scale-up",
          status: "skipped",
          reason: `${stillOff(state)} (${describePolicy(policy, system.timezone)}); ignoreWindow=true to restore anyway`,
        });
        return report.finish({ summary: `skipped: ${stillOff(state)}` });
      }
    }

    const backend = await openBackend(ctx, scope, options.concurrency);
    await forEachWorkload({
      ctx,
      report,
      runbook: "scale-up",
      backend,
      names: scopeNames(scope),
      concurrency: options.concurrency,
      handle: (service, resource) => scaleUpWorkload({ ctx, report, backend }, service, resource),
    });

    const restored = report.actions.filter((a) => a.status === "done" || a.status === "would-do");
    const skipped = report.actions.filter((a) => a.status === "skipped" && a.resource !== system.id);
    const failed = report.actions.filter((a) => a.status === "failed");
    report.metric("servicesRestored", restored.length);
    report.metric("servicesSkipped", skipped.length);
    report.metric("servicesFailed", failed.length);
    const parts = [
      restored.length > 0
        ? `${ctx.dryRun ? "would restore" : "restored"} ${plural(restored.length, backend.noun)}: ${restored
            .map((a) => `${a.resource.split("/").pop()} → ${(a.after as { desired?: number }).desired}`)
            .join(", ")}`
        : "nothing to restore",
    ];
    if (skipped.length > 0) parts.push(`${skipped.length} left as they are`);
    if (failed.length > 0) {
      parts.push(
        `${failed.length} failed (${failed
          .map((a) => `${a.resource.split("/").pop()}: ${a.reason}`)
          .join("; ")
          .slice(0, 300)})`,
      );
    }
    return report.finish({ summary: parts.join("; ") });
  },
};

/** What one scale-up run shares with the handling of each workload. */
interface ScaleUpRun {
  ctx: RunbookContext;
  report: ReportBuilder;
  backend: WorkloadBackend;
}

/** Decides one workload and reports it: skipped (nothing recorded, or lowered by a team), failed, or restored. */
async function scaleUpWorkload(run: ScaleUpRun, service: Workload, resource: string): Promise<void> {
  const { report, backend } = run;
  const decision = decideScaleUp({
    current: service.capacity,
    record: readRecord(service.marks, backend.marks),
    autoscaler: backend.autoscaler,
    noun: backend.noun,
  });
  if (decision.kind !== "restore") {
    report.add({
      resource,
      action: "scale-up",
      status: decision.kind === "fail" ? "failed" : "skipped",
      reason: decision.reason,
      before: capacityJson(service.capacity),
    });
    return;
  }
  await restoreWorkload(run, service, resource, decision);
}

/** Restores one workload and clears its record (or says it would, in a dry run), reporting how far it got. */
async function restoreWorkload(
  run: ScaleUpRun,
  service: Workload,
  resource: string,
  decision: RestoreDecision,
): Promise<void> {
  const { ctx, report, backend } = run;
  const { marks } = backend;
  const before = capacityJson(service.capacity);
  const after = capacityJson(decision.target);
  const notes = decision.notes.length > 0 ? `; ${decision.notes.join("; ")}` : "";
  const what = decision.change
    ? `${describeCapacity(service.capacity)} → ${describeCapacity(decision.target)}`
    : `already at ${describeCapacity(decision.target)}`;
  if (ctx.dryRun) {
    report.add({
      resource,
      action: "scale-up",
      status: "would-do",
      reason: `would restore ${what} and remove ${marks.kind} ${marks.record}${notes}`,
      before,
      after,
    });
    return;
  }
  const log: StepLog = { done: [] };
  try {
    await backend.restore(service, decision, log);
  } catch (error) {
    if (isWriteConflict(error)) throw error;
    const message = errorMessage(error);
    const state =
      log.done.length > 0 && !log.done.includes(backend.clearStep)
        ? `capacity restored (${log.done.join(", ")}) but the record is still there; the next run clears it`
        : "the record is still there, so the next run retries";
    report.add({ resource, action: "scale-up", status: "failed", reason: `${message}; ${state}`, before });
    return;
  }
  report.add({
    resource,
    action: "scale-up",
    status: "done",
    reason: `restored ${what}; record removed${notes}`,
    before,
    after,
  });
}
