import { builtinSystems } from "../systems/builtin.js";
import type { SystemInput } from "../systems/schema.js";
import type { ScheduleInput } from "./schema.js";

/**
 * The health probe of each deployed ECS system, every minute (EventBridge Scheduler's finest rate): each
 * run takes as many samples as the probe interval fits in a minute (Flash Sale's 30 s: two), and also
 * re-checks the bake of a completed deployment, so known-good tracking needs no waiting Lambda.
 */
export function healthProbeSchedules(system: SystemInput): ScheduleInput[] {
  if (system.deploy === false || system.runtime.kind !== "ecs" || system.rollback?.enabled === false) return [];
  return [
    {
      system: system.id,
      runbook: "health-probe",
      expression: "rate(1 minute)",
      timezone: system.timezone,
      input: {},
      description: "Health probe of each service; bake of completed deployments into the last known-good",
    },
  ];
}

/** Probe schedules of every built-in ECS system. */
export const healthProbeSchedulesOfFleet: ScheduleInput[] = builtinSystems.flatMap(healthProbeSchedules);
