import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { plural } from "../../lib/text.js";
import type { System } from "../../systems/schema.js";
import { booleanish, wholeNumber } from "../inputs.js";
import type { ReportBuilder } from "../report.js";
import type { LowerDecision, StepLog, Workload, WorkloadBackend } from "../scaling/backend.js";
import { capacityJson, decideScaleDown, describeCapacity } from "../scaling/decide.js";
import { isWriteConflict } from "../scaling/errors.js";
import { resolveNodePrice, resolvePrice } from "../scaling/prices.js";
import { DEFAULT_CONCURRENCY, forEachWorkload, localTime, openBackend } from "../scaling/run.js";
import { describeSavings, estimateSavings, type SavingsEstimate, type SavingsItem } from "../scaling/savings.js";
import {
  openScalingRun,
  type ScalingScope,
  scalingKubernetesAccess,
  scalingPermissions,
  scalingPlanNote,
  scopeNames,
} from "../scaling/scope.js";
import { type MarkKeys, readKeepAwake, readOptOut, readRecord } from "../scaling/tags.js";
import { describePolicy, type OffHoursPolicy, offHoursEndedBy, stateForRun } from "../scaling/window.js";
import type { Action, Runbook, RunbookContext } from "../types.js";

/** A scope with something to act on. */
type ActiveScope = Exclude<ScalingScope, { kind: "skip" }>;

const price = (max: number) => z.coerce.number({ message: "must be a price in USD" }).positive().max(max).optional();

const input = z.strictObject({
  /** Only this service (it must be one of the policy's targets). */
  service: z.string().min(1).optional(),
  /** A service deployed less than this many minutes ago is left up; a later run picks it up. */
  graceMinutes: wholeNumber(0, 1440).default(30),
  /** Act even outside the off-hours window (a manual run at noon); opt-outs, keep-awake and deployments still apply. */
  ignoreWindow: booleanish.default(false),
  /** AWS calls in flight at once. */
  concurrency: wholeNumber(1, 50).default(DEFAULT_CONCURRENCY),
  /** Fargate prices for the savings estimate, overriding the default table (USD). */
  vcpuHourUsd: price(10),
  gbHourUsd: price(1),
  /** EKS: price of one worker node per hour (USD) and its size, overriding the catalogue's node type. */
  nodeHourUsd: price(100),
  nodeVcpu: wholeNumber(1, 448).optional(),
  nodeMemoryGiB: wholeNumber(1, 24576).optional(),
});

/** `api 4→1, worker 3→1` (at most five, then a count). */
function listChanges(actions: Action[]): string {
  const items = actions.map((a) => {
    const before = (a.before as { desired?: number } | undefined)?.desired;
    const after = (a.after as { desired?: number } | undefined)?.desired;
    return `${a.resource.split("/").pop()} ${before}→${after}`;
  });
  return items.length > 5 ? `${items.slice(0, 5).join(", ")} and ${items.length - 5} more` : items.join(", ");
}

function listReasons(actions: Action[]): string {
  const items = actions.map((a) => `${a.resource.split("/").pop()}: ${a.reason ?? ""}`);
  const text = items.slice(0, 3).join("; ");
  return items.length > 3 ? `${text}; and ${items.length - 3} more` : text;
}

/**
 * Off-hours scale-down of a system's ECS services to the floor of its off-hours policy, in the system's
 * timezone. Records each service's desired count and autoscaling bounds on the service (tag
 * `ops-autopilot:offhours-original`) before lowering anything, never overwrites that record, and leaves
 * alone services that are opted out, kept awake, deploying, freshly deployed, or set below the floor.
 */
export const scaleDownRunbook: Runbook<typeof input> = {
  name: "scale-down",
  description:
    "Off-hours: lower ECS services or EKS deployments to the floor (autoscaling bounds too), recording what they had on it",
  destructive: true,
  input,
  timeoutSeconds: 300,
  permissions: (system) => scalingPermissions(system, "scale-down"),
  kubernetesAccess: (system) => scalingKubernetesAccess(system, "scale-down"),
  planNote: (system) => scalingPlanNote(system, "scale-down"),
  async run(ctx, options) {
    const opened = openScalingRun(ctx, "scale-down", options.service);
    if ("finished" in opened) return opened.finished;
    const { report, scope } = opened;
    const { system } = ctx;
    const policy = scope.policy;
    if (!policy) return report.finish({ summary: "off-hours disabled" });
    const now = ctx.now();
    const state = stateForRun(policy, system.timezone, now);
    report.details.window = { policy: describePolicy(policy, system.timezone), state };
    if (!state.off && !options.ignoreWindow) {
      report.add({
        resource: system.id,
        action: "scale-down",
        status: "skipped",
        reason:
          `outside off-hours (${describePolicy(policy, system.timezone)}; it is ${state.localTime} there): nothing ` +
          "lowered — a late or repeated delivery of the schedule is harmless; ignoreWindow=true to run anyway",
      });
      return report.finish({ summary: `skipped: outside off-hours (${state.localTime} ${system.timezone})` });
    }

    const savings: SavingsItem[] = [];
    const backend = await openBackend(ctx, scope, options.concurrency);
    const run: ScaleDownRun = { ctx, report, backend, policy, options, now, savings };
    await forEachWorkload({
      ctx,
      report,
      runbook: "scale-down",
      backend,
      names: scopeNames(scope),
      concurrency: options.concurrency,
      handle: (service, resource) => scaleDownWorkload(run, service, resource),
    });

    const estimate = estimateNightlySavings(system, scope, options, policy, savings);
    report.details.savings = estimate;
    return report.finish({ summary: summarize(run, estimate) });
  },
};

/** What one scale-down run shares with the handling of each workload. */
interface ScaleDownRun {
  ctx: RunbookContext;
  report: ReportBuilder;
  backend: WorkloadBackend;
  policy: OffHoursPolicy;
  options: z.infer<typeof input>;
  now: Date;
  /** Filled as workloads are lowered (or found lowered): what the savings estimate counts. */
  savings: SavingsItem[];
}

/** Counts the tasks one workload saves at night, from its desired count by day down to `after`. */
function recordSaving(savings: SavingsItem[], service: Workload, desired: number, after: number): void {
  const size = service.size;
  savings.push({
    service: service.name,
    savedTasks: Math.max(0, desired - after),
    cpuUnits: size?.cpuUnits,
    memoryMiB: size?.memoryMiB,
  });
}

/** Decides one workload and reports it: skipped, failed (an unreadable record), or lowered. */
async function scaleDownWorkload(run: ScaleDownRun, service: Workload, resource: string): Promise<void> {
  const { ctx, report, backend, policy, options, now } = run;
  const { system } = ctx;
  const { marks } = backend;
  const decision = decideScaleDown({
    floor: policy.floor,
    current: service.capacity,
    record: readRecord(service.marks, marks),
    optOut: readOptOut(service.marks, marks),
    keepAwake: readKeepAwake(service.marks, now, marks),
    deployment: service.deployment,
    graceMinutes: options.graceMinutes,
    now,
    endedSince: (instant) => offHoursEndedBy(policy, system.timezone, instant, now),
    formatTime: (instant) => localTime(ctx, instant),
    marks,
    autoscalerMin: backend.autoscalerMin,
  });
  const before = capacityJson(service.capacity);
  if (decision.kind === "skip") {
    if (decision.record) recordSaving(run.savings, service, decision.record.desired, service.capacity.desired);
    report.add({ resource, action: "scale-down", status: "skipped", reason: decision.reason, before });
    return;
  }
  if (decision.kind === "fail") {
    report.add({ resource, action: "scale-down", status: "failed", reason: decision.reason, before });
    return;
  }
  await lowerWorkload(run, service, resource, decision);
}

/** How the original is kept, for the report: recorded now (perhaps over a stale record), or kept from before. */
function describeRecordKeeping(ctx: RunbookContext, decision: LowerDecision, marks: MarkKeys): string {
  const replaced = decision.replaces
    ? `, replacing a record left from ${localTime(ctx, decision.replaces.at)} (${describeCapacity(decision.replaces)})`
    : "";
  return decision.write
    ? `original ${describeCapacity(decision.record)} recorded in ${marks.kind} ${marks.record}${replaced}`
    : `raised since the last scale-down; the original ${describeCapacity(decision.record)} recorded at ` +
        `${localTime(ctx, decision.record.at)} is kept`;
}

/** Lowers one workload (or says it would, in a dry run) and reports what was done or how far it got. */
async function lowerWorkload(
  run: ScaleDownRun,
  service: Workload,
  resource: string,
  decision: LowerDecision,
): Promise<void> {
  const { ctx, report, backend, policy } = run;
  const before = capacityJson(service.capacity);
  const after = capacityJson(decision.target);
  const how = describeRecordKeeping(ctx, decision, backend.marks);
  const change = `${describeCapacity(service.capacity)} → ${describeCapacity(decision.target)}`;
  if (ctx.dryRun) {
    recordSaving(run.savings, service, decision.record.desired, decision.target.desired);
    report.add({
      resource,
      action: "scale-down",
      status: "would-do",
      reason: `would lower to the floor ${policy.floor}: ${change} (${how})`,
      before,
      after,
    });
    return;
  }
  const log: StepLog = { done: [] };
  try {
    await backend.lower(service, decision, log);
  } catch (error) {
    // A lost write race is read again and decided afresh by forEachWorkload.
    if (isWriteConflict(error)) throw error;
    const recorded = !decision.write || log.done.includes(backend.recordStep);
    const state = recorded
      ? `the original is recorded on the ${backend.noun}, so scale-up restores it`
      : "nothing was changed";
    const message = errorMessage(error);
    report.add({ resource, action: "scale-down", status: "failed", reason: `${message}; ${state}`, before });
    return;
  }
  recordSaving(run.savings, service, decision.record.desired, decision.target.desired);
  report.add({
    resource,
    action: "scale-down",
    status: "done",
    reason: `lowered to the floor ${policy.floor}: ${change} (${how})`,
    before,
    after,
  });
}

/** The savings estimate: Fargate prices (or EKS node prices), with the run's price overrides. */
function estimateNightlySavings(
  system: System,
  scope: ActiveScope,
  options: z.infer<typeof input>,
  policy: OffHoursPolicy,
  items: SavingsItem[],
): SavingsEstimate {
  return estimateSavings({
    items,
    window: policy,
    price: resolvePrice(system.account.region, {
      override: {
        ...(options.vcpuHourUsd !== undefined ? { vcpuHourUsd: options.vcpuHourUsd } : {}),
        ...(options.gbHourUsd !== undefined ? { gbHourUsd: options.gbHourUsd } : {}),
      },
    }),
    launchType: scope.kind === "ecs" ? scope.runtime.launchType : "FARGATE",
    ...(scope.kind === "eks"
      ? {
          node: resolveNodePrice(
            system.account.region,
            {
              ...(options.nodeHourUsd !== undefined ? { hourUsd: options.nodeHourUsd } : {}),
              ...(options.nodeVcpu !== undefined ? { vcpu: options.nodeVcpu } : {}),
              ...(options.nodeMemoryGiB !== undefined ? { memoryGiB: options.nodeMemoryGiB } : {}),
            },
            scope.runtime.nodeType,
          ),
        }
      : {}),
  });
}

/** Records the run's metrics and returns its summary: what was lowered, skipped and failed, and what it saves. */
function summarize(run: ScaleDownRun, estimate: SavingsEstimate): string {
  const { ctx, report, backend, policy } = run;
  const { system } = ctx;
  const lowered = report.actions.filter((a) => a.status === "done" || a.status === "would-do");
  const skipped = report.actions.filter((a) => a.status === "skipped" && a.resource !== system.id);
  const failed = report.actions.filter((a) => a.status === "failed");
  report.metric("servicesLowered", lowered.length);
  report.metric("servicesSkipped", skipped.length);
  report.metric("servicesFailed", failed.length);
  report.metric("taskHoursSavedPerNight", estimate.perNight.taskHours);
  report.metric("taskHoursSavedPerMonth", estimate.perMonth.taskHours);
  if (estimate.perNight.usd !== undefined) report.metric("costSavedPerNightUsd", estimate.perNight.usd);
  if (estimate.perMonth.usd !== undefined) report.metric("costSavedPerMonthUsd", estimate.perMonth.usd);

  const parts = [
    lowered.length > 0
      ? `${ctx.dryRun ? "would lower" : "lowered"} ${plural(lowered.length, backend.noun)} to the floor ${policy.floor} (${listChanges(lowered)})`
      : `no ${backend.noun} lowered`,
  ];
  if (skipped.length > 0) parts.push(`skipped ${skipped.length} (${listReasons(skipped)})`);
  if (failed.length > 0) parts.push(`${failed.length} failed (${listReasons(failed)})`);
  if (estimate.perNight.taskHours > 0) parts.push(describeSavings(estimate));
  return parts.join("; ");
}
