import { offHoursCrons } from "../runbooks/scaling/window.js";
import { builtinSystems } from "../systems/builtin.js";
import type { SystemInput } from "../systems/schema.js";
import type { ScheduleInput } from "./schema.js";

/**
 * The off-hours schedules of one system, in its own timezone (EventBridge Scheduler follows its DST):
 * `scale-down` daily at `offHours.start`, `scale-up` at `offHours.end` (Monday–Friday when weekends are
 * off). None when the policy is disabled. Holidays are left to the runbooks, which see the date.
 */
export function offHoursSchedules(system: SystemInput): ScheduleInput[] {
  const offHours = system.offHours;
  // Systems that exist only locally (`deploy: false`, the embedded demo) get no schedules.
  if (!offHours.enabled || system.deploy === false) return [];
  const crons = offHoursCrons(offHours);
  const floor = `floor ${offHours.floor}`;
  const weekends = offHours.weekendsOff ? "; not on Saturdays and Sundays (weekends stay off)" : "";
  return [
    {
      system: system.id,
      runbook: "scale-down",
      expression: crons.scaleDown,
      timezone: system.timezone,
      input: {},
      description: `Off-hours start ${offHours.start} ${system.timezone}: scale ECS services down to the ${floor}`,
    },
    {
      system: system.id,
      runbook: "scale-up",
      expression: crons.scaleUp,
      timezone: system.timezone,
      input: {},
      description: `Off-hours end ${offHours.end} ${system.timezone}: restore the recorded capacity${weekends}`,
    },
  ];
}

/** Scale-down and scale-up schedules of every built-in system whose off-hours policy is enabled. */
export const scalingSchedules: ScheduleInput[] = builtinSystems.flatMap(offHoursSchedules);
