import { builtinSystems } from "../systems/builtin.js";
import type { ScheduleInput } from "./schema.js";

/**
 * ECR cleanup once a week for every deployed system with repositories, Sunday 04:00 in the system's own
 * zone: the quietest hour of the week for deployments (a deploy racing the cleanup is the one case the
 * in-use read cannot see), and after the 03:00 backups. EKS systems get the same schedule (their
 * deployments and replicaset history are read too).
 */
export const ecrCleanupSchedules: ScheduleInput[] = builtinSystems
  .filter((s) => s.ecr && s.deploy !== false)
  .map((s) => ({
    system: s.id,
    runbook: "ecr-cleanup",
    expression: "cron(0 4 ? * SUN *)",
    description: "weekly ECR cleanup: old images nothing uses or may roll back to, Sunday 04:00 local",
  }));
