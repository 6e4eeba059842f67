import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import { SETTING_VARIABLES, type Settings } from "../../lib/settings.js";
import type { Database, System } from "../../systems/schema.js";
import type { HeldClaim } from "../exclusive.js";
import { BACKUP_TASK } from "./task.js";

/**
 * Where one database's backup runs: here (this process), in the Fargate backup task, or nowhere this
 * time (it would not fit and no task can take it), with the reason a person reads in the report.
 */
export type Placement =
  | { where: "here" }
  /** Not decidable before the dump's estimate is known: decide again with `estimateMs`. */
  | { where: "estimate" }
  | { where: "task"; reason: string }
  | { where: "skip"; reason: string };

/** What {@link decidePlacement} decides from: the catalogue, the budget and the estimate. */
export interface PlacementInput {
  /** The database's `backupRunOn`, else the system's `backup.runOn`. */
  runOn: "auto" | "fargate";
  /** Time left before the function's deadline; undefined in a plain process (the task, a CLI run). */
  budgetMs?: number;
  /** Estimated dump time; undefined before the database has been measured. */
  estimateMs?: number;
  /** For the reason: the database's size and the rate the estimate assumed. */
  databaseBytes?: number;
  rateBytesPerMs?: number;
  /** Why no task can take it (no task network in the catalogue, no task deployed); undefined: one can. */
  noTask?: string;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * The hand-off rules, in order (runbooks/backup/backup.md):
 * 1. a plain process has no deadline: it runs the dump itself (it is the task, or an operator's run);
 * 2. `runOn: fargate` goes to the task without estimating (the function need not reach the database);
 * 3. without an estimate yet, estimate first;
 * 4. an estimate within the budget runs here;
 * 5. over the budget: the task, or `skip` with the numbers when no task can take it.
 */
export function decidePlacement(input: PlacementInput): Placement {
  if (input.budgetMs === undefined) return { where: "here" };
  const budget = `the ${Math.round(input.budgetMs / 1000)} s budget`;
  if (input.runOn === "fargate") {
    return input.noTask
      ? { where: "skip", reason: `the catalogue runs this backup on Fargate, but ${input.noTask}` }
      : { where: "task", reason: "the catalogue runs this backup on Fargate (runOn: fargate)" };
  }
  if (input.estimateMs === undefined) return { where: "estimate" };
  if (input.estimateMs <= input.budgetMs) return { where: "here" };
  const estimate =
    `estimated dump time ${Math.round(input.estimateMs / 1000)} s` +
    (input.databaseBytes !== undefined && input.rateBytesPerMs !== undefined
      ? ` (${formatBytes(input.databaseBytes)} at ${formatBytes(input.rateBytesPerMs * 1000)}/s)`
      : "");
  return input.noTask
    ? {
        where: "skip",
        reason: `${estimate} exceeds ${budget} and ${input.noTask}; run it as a plain process (\`ops run backup\`)`,
      }
    : { where: "task", reason: `${estimate} exceeds ${budget}` };
}

/** The deployed backup task, from the process settings (the deployment plan sets them). */
export interface BackupTaskSettings {
  cluster: string;
  taskDefinition: string;
  container: string;
}

/** The task settings, or why there is no task to hand to. */
export function backupTaskSettings(
  system: System,
  task: Settings["task"],
): { settings: BackupTaskSettings } | { noTask: string } {
  if (!system.backup?.fargate) return { noTask: "the catalogue gives no task network (backup.fargate)" };
  const { cluster, taskDefinition } = task;
  if (!cluster || !taskDefinition) {
    return {
      noTask: `no backup task is deployed (${SETTING_VARIABLES.backupTaskCluster} / ${SETTING_VARIABLES.backupTaskDefinition} unset)`,
    };
  }
  return { settings: { cluster, taskDefinition, container: task.container || BACKUP_TASK.container } };
}

/** Options of {@link backupTaskRequest}. */
export interface BackupTaskRequestOptions {
  system: System;
  database: Database;
  settings: BackupTaskSettings;
  /** The claim the task takes over. */
  claim: Pick<HeldClaim, "holder" | "key">;
  /** The function's invocation id, so the task's logs and tags lead back to it. */
  runId?: string;
  /** Inputs of this run the task must repeat. */
  force: boolean;
  compression?: number;
}

/**
 * The RunTask request: the same image and catalogue, `ops run backup --system S database=D` as the
 * container's command (the entry point is `node bin/ops.js`), the claim's holder in its environment, the
 * catalogue's network, and tags naming what it backs up. `clientToken` is the claim's holder: an SDK
 * retry of a request whose answer was lost starts no second task.
 */
export function backupTaskRequest(options: BackupTaskRequestOptions): RunTaskCommandInput {
  const { system, database, settings, claim } = options;
  const network = system.backup?.fargate;
  if (!network) throw new Error(`system "${system.id}" has no backup.fargate network`);
  const command = [
    "run",
    "backup",
    "--system",
    system.id,
    `database=${database.id}`,
    ...(options.force ? ["force=true"] : []),
    ...(options.compression !== undefined ? [`compression=${options.compression}`] : []),
  ];
  return {
    cluster: settings.cluster,
    taskDefinition: settings.taskDefinition,
    launchType: "FARGATE",
    count: 1,
    clientToken: claim.holder,
    startedBy: "ops-autopilot-backup",
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
      { key: "ops-autopilot:runbook", value: "backup" },
      { key: "ops-autopilot:system", value: system.id },
      { key: "ops-autopilot:database", value: database.id },
    ],
  };
}

/**
 * Long enough for Fargate to pull the image and start the container, which then takes the claim over and
 * renews it; a task that never starts leaves a claim that runs out within this, and the next run retries.
 */
export const HANDOFF_LEASE_MS = 20 * 60_000;
