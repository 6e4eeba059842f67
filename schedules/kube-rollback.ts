import { builtinSystems } from "../systems/builtin.js";
import type { ScheduleInput } from "./schema.js";

/**
 * The failed-rollout check every 2 minutes for each deployed EKS system whose rollback is on (ODE's guide
 * asks for automatic rollback on a failed rollout): a deployment past its progress deadline is found
 * within 2 minutes of Kubernetes marking it, and the check is read-only when nothing failed.
 */
export const kubeRollbackSchedules: ScheduleInput[] = builtinSystems
  .filter((s) => s.deploy !== false && s.runtime.kind === "eks" && s.rollback?.enabled !== false)
  .map((s) => ({
    system: s.id,
    runbook: "kube-rollback",
    expression: "cron(0/2 * * * ? *)",
    description: "every 2 min: a deployment whose rollout failed (ProgressDeadlineExceeded) goes back a revision",
  }));
