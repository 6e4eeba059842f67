import { z } from "zod";
import { errorMessage, ValidationError } from "../../lib/errors.js";
import { plural } from "../../lib/text.js";
import { booleanish, wholeNumber } from "../inputs.js";
import type { ReportBuilder } from "../report.js";
import type { Workload, WorkloadBackend } from "../scaling/backend.js";
import { capacityJson, decideScaleUp, describeCapacity } from "../scaling/decide.js";
import { DEFAULT_CONCURRENCY, forEachWorkload, localTime, openBackend } from "../scaling/run.js";
import {
  openScalingRun,
  scalingKubernetesAccess,
  scalingPermissions,
  scalingPlanNote,
  scopeNames,
} from "../scaling/scope.js";
import { isoSeconds, readKeepAwake, readOptOut, readRecord } from "../scaling/tags.js";
import { resolveUntil, untilSyntaxProblem } from "../scaling/until.js";
import { offHoursEnd } from "../scaling/window.js";
import type { Runbook, RunbookContext } from "../types.js";

const input = z
  .strictObject({
    /**
     * Until when scale-down leaves the services up: `22:00`, `2026-11-22T07:00` (local), an ISO instant, or
     * `3h`. Default: the end of the current (or, in business hours, the coming) off-hours period — "tonight".
     */
    until: z
      .string()
      .superRefine((value, ctx) => {
        const problem = untilSyntaxProblem(value);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    /** Only this service. */
    service: z.string().min(1).optional(),
    /** Remove the override instead of setting it. */
    clear: booleanish.default(false),
    /** Also bring back services that are already scaled down (their recorded capacity). */
    wake: booleanish.default(true),
    /** AWS calls in flight at once. */
    concurrency: wholeNumber(1, 50).default(DEFAULT_CONCURRENCY),
  })
  .superRefine((value, ctx) => {
    if (value.clear && value.until !== undefined) {
      ctx.addIssue({ code: "custom", path: ["until"], message: "give until=... or clear=true, not both" });
    }
  });

/**
 * Keep-awake override: tags the system's off-hours services with `ops-autopilot:keep-awake-until=<instant>`
 * so that scale-down leaves them up until then; the tag expires by itself. Services already scaled down
 * are brought back to their recorded capacity (`wake=false` to only set the tag). `clear=true` removes it.
 */
export const keepAwakeRunbook: Runbook<typeof input> = {
  name: "keep-awake",
  description:
    "Keep a system's ECS services or EKS deployments up through off-hours until a given time (expires by itself)",
  destructive: false,
  input,
  timeoutSeconds: 120,
  permissions: (system) => scalingPermissions(system, "keep-awake"),
  // Started by a person, never scheduled: it serves the systems whose off-hours services it can act on.
  serves: (system) => scalingPermissions(system, "keep-awake").length > 0,
  kubernetesAccess: (system) => scalingKubernetesAccess(system, "keep-awake"),
  planNote: (system) => scalingPlanNote(system, "keep-awake"),
  async run(ctx, options) {
    const opened = openScalingRun(ctx, "keep-awake", options.service);
    if ("finished" in opened) return opened.finished;
    const { report, scope } = opened;
    const { system } = ctx;
    const policy = scope.policy;
    if (!policy) return report.finish({ summary: "off-hours disabled" });
    const now = ctx.now();
    let until: Date | undefined;
    if (!options.clear) {
      try {
        until =
          options.until !== undefined
            ? resolveUntil(options.until, { timezone: system.timezone, now })
            : offHoursEnd(policy, system.timezone, now);
        if (!until) throw new ValidationError("until: off-hours do not end in the next 14 days; give until=...");
      } catch (error) {
        report.add({ resource: system.id, action: "keep-awake", status: "failed", reason: errorMessage(error) });
        return report.finish({ summary: `nothing changed: ${errorMessage(error)}` });
      }
      report.details.until = { utc: isoSeconds(until), local: localTime(ctx, until) };
    }

    let covered = 0;
    const backend = await openBackend(ctx, scope, options.concurrency);
    const run: KeepAwakeRun = { ctx, report, backend, now, until, wake: options.wake };
    await forEachWorkload({
      ctx,
      report,
      runbook: "keep-awake",
      backend,
      names: scopeNames(scope),
      concurrency: options.concurrency,
      handle: async (service, resource) => {
        if (!(await markWorkload(run, service, resource))) return;
        covered++;
        await wakeWorkload(run, service, resource);
      },
    });

    const changed = report.actions.filter((a) => a.status === "done" || a.status === "would-do");
    const woken = changed.filter((a) => a.action === "wake").length;
    const failed = report.actions.filter((a) => a.status === "failed");
    report.metric("servicesTagged", changed.filter((a) => a.action !== "wake").length);
    report.metric("servicesWoken", woken);
    report.metric("servicesFailed", failed.length);
    const verb = ctx.dryRun ? "would " : "";
    const head = until
      ? `${verb}keep ${plural(covered, backend.noun)} awake until ${localTime(ctx, until)}`
      : `${verb}clear keep-awake on ${plural(changed.length, backend.noun)}`;
    const wakeText = woken > 0 ? `; ${ctx.dryRun ? "would wake" : "woke"} ${woken} already scaled down` : "";
    const failText =
      failed.length > 0
        ? `; ${failed.length} failed (${failed
            .map((a) => a.reason)
            .join("; ")
            .slice(0, 200)})`
        : "";
    return report.finish({ summary: `${head}${wakeText}${failText}` });
  },
};

/** What one keep-awake run shares with the handling of each workload. */
interface KeepAwakeRun {
  ctx: RunbookContext;
  report: ReportBuilder;
  backend: WorkloadBackend;
  now: Date;
  /** The instant to keep awake until; absent for `clear=true`. */
  until: Date | undefined;
  wake: boolean;
}

/**
 * Sets (or, without `until`, clears) one workload's keep-awake mark and reports it. True when the workload
 * is now kept awake until `until` (set now or already), so it counts as covered and may be woken.
 */
async function markWorkload(run: KeepAwakeRun, service: Workload, resource: string): Promise<boolean> {
  const { report, backend, now, until } = run;
  const { marks } = backend;
  if (readOptOut(service.marks, marks).optedOut) {
    report.add({
      resource,
      action: "keep-awake",
      status: "skipped",
      reason: "opted out of off-hours: left alone",
    });
    return false;
  }
  const current = readKeepAwake(service.marks, now, marks);
  const currentValue = current.kind === "none" ? undefined : service.marks.get(marks.keepAwake);
  const before = currentValue === undefined ? {} : { keepAwakeUntil: currentValue };
  if (!until) {
    await clearMark(run, service, resource, { hasMark: current.kind !== "none", before });
    return false;
  }
  await setMark(run, service, resource, { until, currentValue, before });
  return true;
}

/** Removes one workload's keep-awake mark (a skip when it has none). */
async function clearMark(
  run: KeepAwakeRun,
  service: Workload,
  resource: string,
  mark: { hasMark: boolean; before: Record<string, string> },
): Promise<void> {
  const { ctx, report, backend } = run;
  const { marks } = backend;
  if (!mark.hasMark) {
    report.add({
      resource,
      action: "clear-keep-awake",
      status: "skipped",
      reason: `no keep-awake ${marks.kind}`,
    });
    return;
  }
  if (!ctx.dryRun) await backend.clearKeepAwake(service);
  report.add({
    resource,
    action: "clear-keep-awake",
    status: report.changeStatus,
    reason: `${ctx.dryRun ? "would remove" : "removed"} ${marks.kind} ${marks.keepAwake}`,
    before: mark.before,
    after: {},
  });
}

/** Sets one workload's keep-awake mark to `until` (a skip when it already says exactly that). */
async function setMark(
  run: KeepAwakeRun,
  service: Workload,
  resource: string,
  mark: { until: Date; currentValue: string | undefined; before: Record<string, string> },
): Promise<void> {
  const { ctx, report, backend } = run;
  const { marks } = backend;
  const { until, before } = mark;
  const value = isoSeconds(until);
  if (mark.currentValue === value) {
    report.add({
      resource,
      action: "keep-awake",
      status: "skipped",
      reason: `already kept awake until ${localTime(ctx, until)}`,
      before,
    });
    return;
  }
  if (!ctx.dryRun) await backend.setKeepAwake(service, until);
  report.add({
    resource,
    action: "keep-awake",
    status: report.changeStatus,
    reason: `${ctx.dryRun ? "would keep" : "kept"} awake until ${localTime(ctx, until)} (${marks.kind} ${marks.keepAwake}=${value})`,
    before,
    after: { keepAwakeUntil: value },
  });
}

/** Waking is scale-up's restore for this one workload, with the same rules; only when asked and recorded. */
async function wakeWorkload(run: KeepAwakeRun, service: Workload, resource: string): Promise<void> {
  const { ctx, report, backend } = run;
  const record = readRecord(service.marks, backend.marks);
  if (!run.wake || record.kind === "none") return;
  const decision = decideScaleUp({
    current: service.capacity,
    record,
    autoscaler: backend.autoscaler,
    noun: backend.noun,
  });
  if (decision.kind !== "restore") {
    report.add({
      resource,
      action: "wake",
      status: decision.kind === "fail" ? "failed" : "skipped",
      reason: decision.reason,
      before: capacityJson(service.capacity),
    });
    return;
  }
  if (!ctx.dryRun) await backend.restore(service, decision, { done: [] });
  report.add({
    resource,
    action: "wake",
    status: report.changeStatus,
    reason: `${ctx.dryRun ? "would restore" : "restored"} ${describeCapacity(decision.target)} (it was scaled down for off-hours)`,
    before: capacityJson(service.capacity),
    after: capacityJson(decision.target),
  });
}
