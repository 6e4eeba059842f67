import { arn } from "../../lib/iam.js";
import type { System } from "../../systems/schema.js";
import type { Permission } from "../types.js";

/**
 * The Fargate task a backup too long for a Lambda runs in. Its names are fixed per account and region
 * (the task runs where the system's database and subnets are), so the backup runbook can declare IAM on
 * exactly these resources from the catalogue alone and the deployment plan creates them under the same
 * names. One deployment per account and region owns them (a second stage there would share them).
 */
export const BACKUP_TASK = {
  cluster: "ops-autopilot-backup",
  family: "ops-autopilot-backup",
  container: "ops",
} as const;

/** IAM role names are global to the account: the region is in them. */
export function backupTaskRoleNames(region: string): { task: string; execution: string } {
  return { task: `ops-autopilot-backup-task-${region}`, execution: `ops-autopilot-backup-exec-${region}` };
}

/** ARNs of the backup task's cluster, task definition (every revision) and roles, in the system's account and region. */
export function backupTaskArns(system: System): {
  cluster: string;
  taskDefinition: string;
  tasks: string;
  taskRole: string;
  executionRole: string;
} {
  const roles = backupTaskRoleNames(system.account.region);
  const iamRole = (name: string) => arn(system, "iam", `role/${name}`, { global: true });
  return {
    cluster: arn(system, "ecs", `cluster/${BACKUP_TASK.cluster}`),
    taskDefinition: arn(system, "ecs", `task-definition/${BACKUP_TASK.family}:*`),
    tasks: arn(system, "ecs", `task/${BACKUP_TASK.cluster}/*`),
    taskRole: iamRole(roles.task),
    executionRole: iamRole(roles.execution),
  };
}

/**
 * What starting the backup task needs, no wider: RunTask of that task definition on that cluster, tagging
 * the task it creates (RunTask with tags is authorised as ecs:TagResource too), and passing its two roles
 * to ECS only. Empty for a system without a task network (`backup.fargate`): it never hands off.
 */
export function backupTaskPermissions(system: System): Permission[] {
  if (!system.backup?.fargate) return [];
  const arns = backupTaskArns(system);
  return [
    {
      actions: ["ecs:RunTask"],
      resources: [arns.taskDefinition],
      conditions: [{ test: "ArnEquals", variable: "ecs:cluster", values: [arns.cluster] }],
    },
    {
      actions: ["ecs:TagResource"],
      resources: [arns.tasks],
      conditions: [{ test: "StringEquals", variable: "ecs:CreateAction", values: ["RunTask"] }],
    },
    {
      actions: ["iam:PassRole"],
      resources: [arns.taskRole, arns.executionRole],
      conditions: [
        {
          test: "StringEquals",
          variable: "iam:PassedToService",
          values: ["ecs-tasks.amazonaws.com"],
        },
      ],
    },
  ];
}
