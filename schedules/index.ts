import { backupSchedules } from "./backups.js";
import { drillSchedules } from "./drills.js";
import { ecrCleanupSchedules } from "./ecr-cleanup.js";
import { healthProbeSchedulesOfFleet } from "./health-probe.js";
import { kubeRollbackSchedules } from "./kube-rollback.js";
import { scalingSchedules } from "./scaling.js";
import type { ScheduleInput } from "./schema.js";

/** Every built-in schedule, validated with the fleet by `systems/index.ts`. */
export const builtinSchedules: readonly ScheduleInput[] = [
  ...backupSchedules,
  ...scalingSchedules,
  ...drillSchedules,
  ...ecrCleanupSchedules,
  ...healthProbeSchedulesOfFleet,
  ...kubeRollbackSchedules,
];
