import { type Failure, RunTaskCommand, type RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { errorMessage } from "../lib/errors.js";
import { SETTING_VARIABLES, type Settings } from "../lib/settings.js";
import type { System } from "../systems/schema.js";
import { BACKUP_TASK } from "./backup/task.js";
import type { HeldClaim } from "./exclusive.js";
import type { ReportBuilder } from "./report.js";
import type { RunbookContext } from "./types.js";

/**
 * Handing a run to the Fargate task (the backup's, and a restore drill's): the same image and catalogue,
 * `ops run <runbook> --system S database=D …` as the container's command, the claim passed on. One
 * module, so the backup and the drill start the task the same way (runbooks/backup/backup.md, restore-drill.md).
 */

/** The deployed task, from the process settings (the deployment plan sets them). */
export interface TaskSettings {
  cluster: string;
  taskDefinition: string;
  container: string;
}

/** The task settings, or why there is no task to hand to. */
export function taskSettings(system: System, task: Settings["task"]): { settings: TaskSettings } | { noTask: string } {
  if (!system.backup?.fargate) return { noTask: "the catalogue gives no task network (backup.fargate)" };
  const { cluster, taskDefinition } = task;
  if (!cluster || !taskDefinition) {
    return {
      noTask: `no backup task is deployed (${SETTING_VARIABLES.backupTaskCluster} / ${SETTING_VARIABLES.backupTaskDefinition} unset)`,
    };
  }
  return { settings: { cluster, taskDefinition, container: task.container || BACKUP_TASK.container } };
}

/** Options of {@link taskRequest}. */
export interface TaskRequestOptions {
  /** The runbook the task runs (`backup`, `restore-drill`). */
  runbook: string;
  system: System;
  /** The database's catalogue id. */
  database: string;
  /** Further `key=value` inputs of this run the task must repeat. */
  input?: string[];
  settings: TaskSettings;
  /** The claim the task takes over. */
  claim: Pick<HeldClaim, "holder" | "key">;
  /** The function's invocation id, so the task's logs and tags lead back to it. */
  runId?: string;
}

/**
 * The RunTask request: `ops run <runbook> --system S database=D …` as the container's command (the entry
 * point is `node bin/ops.js`), the claim's holder in its environment, the catalogue's network, and tags
 * naming what it runs for. `clientToken` is the claim's holder: an SDK retry of a request whose answer was
 * lost starts no second task.
 */
export function taskRequest(options: TaskRequestOptions): RunTaskCommandInput {
  const { system, settings, claim } = options;
  const network = system.backup?.fargate;
  if (!network) throw new Error(`system "${system.id}" has no backup.fargate network`);
  const command = [
    "run",
    options.runbook,
    "--system",
    system.id,
    `database=${options.database}`,
    ...(options.input ?? []),
  ];
  return {
    cluster: settings.cluster,
    taskDefinition: settings.taskDefinition,
    launchType: "FARGATE",
    count: 1,
    clientToken: claim.holder,
    startedBy: `ops-autopilot-${options.runbook}`.slice(0, 128),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: network.subnetIds,
        securityGroups: network.securityGroupIds,
        assignPublicIp: network.assignPublicIp ? "ENABLED" : "DISABLED",
      },
    },
    overrides: {
      containerOverrides: [
        {
          name: settings.container,
          command,
          environment: [
            { name: SETTING_VARIABLES.claimHolder, value: claim.holder },
            { name: SETTING_VARIABLES.claimKey, value: claim.key },
            ...(options.runId ? [{ name: "OPS_HANDED_OFF_BY", value: options.runId }] : []),
          ],
        },
      ],
    },
    tags: [
      { key: "ops-autopilot:runbook", value: options.runbook },
      { key: "ops-autopilot:system", value: system.id },
      { key: "ops-autopilot:database", value: options.database },
    ],
  };
}

/**
 * Long enough for Fargate to pull the image and start the container, which then takes the claim over and
 * renews it; a task that never starts leaves a claim that runs out within this, and the next run retries.
 */
export const HANDOFF_LEASE_MS = 20 * 60_000;

/** Options of {@link handOffToTask}. */
export interface HandOffToTaskOptions extends Omit<TaskRequestOptions, "claim" | "runId"> {
  claim: HeldClaim;
  reason: string;
  /** The report's resource (`system/database`). */
  resource: string;
}

/** The RunTask response's failures, for a person. */
function describeFailures(failures: Failure[] | undefined): string {
  const lines = (failures ?? []).map(
    (f) => `${f.reason ?? "unknown"}${f.detail ? ` (${f.detail})` : ""}${f.arn ? ` on ${f.arn}` : ""}`,
  );
  return lines.join("; ") || "no task and no failure in the response";
}

/**
 * Starts the task: the claim extended for it to start, RunTask, and the claim kept for the task. Throws
 * when RunTask refused or started nothing; the claim is then released as after any failed run.
 */
export async function startTask(
  ctx: Pick<RunbookContext, "clients">,
  request: RunTaskCommandInput,
  claim: HeldClaim,
): Promise<string> {
  await claim.extend(HANDOFF_LEASE_MS);
  const response = await ctx.clients.ecs.send(new RunTaskCommand(request));
  const taskArn = response.tasks?.[0]?.taskArn;
  if (!taskArn) throw new Error(`RunTask started no task: ${describeFailures(response.failures)}`);
  claim.keep();
  return taskArn;
}

/**
 * Starts the task and keeps the claim for it (the report says `handed off` with the task's ARN); a dry run
 * reports the request it would send. A refused or failed RunTask is `failed`, and the claim is released as
 * after any failed run, so the next event tries again.
 */
export async function handOffToTask(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: HandOffToTaskOptions,
): Promise<void> {
  const { resource } = options;
  const request = taskRequest({ ...options, ...(ctx.runId ? { runId: ctx.runId } : {}) });
  const summary = {
    cluster: request.cluster,
    taskDefinition: request.taskDefinition,
    command: request.overrides?.containerOverrides?.[0]?.command,
  };
  if (ctx.dryRun) {
    report.add({
      resource,
      action: "hand-off",
      status: "would-do",
      reason: `would hand off to Fargate: ${options.reason}`,
      after: summary,
    });
    return;
  }
  try {
    const taskArn = await startTask(ctx, request, options.claim);
    report.add({
      resource,
      action: "hand-off",
      status: "done",
      reason: `handed off to Fargate task ${taskArn}: ${options.reason}`,
      after: { ...summary, taskArn },
    });
  } catch (error) {
    report.add({
      resource,
      action: "hand-off",
      status: "failed",
      reason: `hand-off to Fargate failed: ${errorMessage(error)}`,
      after: summary,
    });
  }
}
