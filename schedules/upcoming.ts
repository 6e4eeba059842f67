import { nextRuns, parseScheduleExpression } from "../lib/cron.js";
import { formatLocal } from "../lib/timezone.js";
import type { AnyRunbook } from "../runbooks/types.js";
import type { Fleet } from "../systems/fleet.js";

/** One upcoming run of a schedule. */
export interface PlannedRun {
  scheduleId: string;
  system: string;
  runbook: string;
  timezone: string;
  /** ISO instant. */
  utc: string;
  /** Wall-clock time in the schedule's zone, with its offset. */
  local: string;
  /** What will happen instead of a normal run, when the runbook knows (e.g. skipped on EKS). */
  note?: string;
}

/** Options of {@link planRuns}. */
export interface PlanOptions {
  now: Date;
  days: number;
  system?: string;
}

/** Every run of every schedule in the next `days` days, in time order. */
export function planRuns(fleet: Fleet, registry: readonly AnyRunbook[], options: PlanOptions): PlannedRun[] {
  const until = new Date(options.now.getTime() + options.days * 86_400_000);
  const planned: PlannedRun[] = [];
  for (const schedule of fleet.schedules) {
    if (options.system && schedule.system !== options.system) continue;
    const system = fleet.systems.find((s) => s.id === schedule.system);
    const runbook = registry.find((r) => r.name === schedule.runbook);
    const note = system && runbook?.planNote?.(system, schedule.input);
    const expression = parseScheduleExpression(schedule.expression);
    for (const run of nextRuns(expression, { timezone: schedule.timezone, after: options.now, until })) {
      planned.push({
        scheduleId: schedule.id,
        system: schedule.system,
        runbook: schedule.runbook,
        timezone: schedule.timezone,
        utc: run.toISOString(),
        local: formatLocal(run, schedule.timezone),
        ...(note ? { note } : {}),
      });
    }
  }
  return planned.sort((a, b) => a.utc.localeCompare(b.utc) || a.scheduleId.localeCompare(b.scheduleId));
}
