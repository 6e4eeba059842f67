import { builtinSystems } from "../systems/builtin.js";
import type { SystemInput } from "../systems/schema.js";
import type { ScheduleInput } from "./schema.js";

/**
 * The health probe of each deployed ECS system, and of each EKS system with a reachable health endpoint
 * (`health[].baseUrl`: on EKS the probe has no bake by alarms to do without one), every minute (EventBridge Scheduler's finest rate): each
 * run takes as many samples as the probe interval fits in a minute (Flash Sale's 30 s: two), and also
 * re-checks the bake of a completed deployment, so known-good tracking needs no waiting Lambda.
 */
export function healthProbeSchedules(system: SystemInput): ScheduleInput[] {
  if (system.deploy === false || system.rollback?.enabled === false) return [];
  const eksProbes = system.runtime.kind === "eks" && (system.health ?? []).some((h) => h.baseUrl);
  if (system.runtime.kind !== "ecs" && !eksProbes) return [];
  return [
    {
      system: system.id,
      runbook: "health-probe",
      expression: "rate(1 minute)",
      timezone: system.timezone,
      input: {},
      description:
        system.runtime.kind === "eks"
          ? "Health probe of each deployment; N failures after a rollout roll it back a revision"
          : "Health probe of each service; bake of completed deployments into the last known-good",
    },
  ];
}

/** Probe schedules of the built-in fleet (its EKS systems have no baseUrl, so ECS only). */
export const healthProbeSchedulesOfFleet: ScheduleInput[] = builtinSystems.flatMap(healthProbeSchedules);
