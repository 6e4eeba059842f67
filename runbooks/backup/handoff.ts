import type { RunTaskCommandInput } from "@aws-sdk/client-ecs";
import type { Database, System } from "../../systems/schema.js";
import type { HeldClaim } from "../exclusive.js";
import { type TaskSettings, taskRequest, taskSettings } from "../fargate-handoff.js";

export { HANDOFF_LEASE_MS } from "../fargate-handoff.js";

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
  /** The dump needs local disk (a directory-format dump, `systems/dump-format.ts`): what it is, for the reason. */
  needsDisk?: string;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Rule 3: a dump that needs local disk goes to the task, or is skipped saying where it can run. */
function needsDisk(what: string, noTask: string | undefined): Placement {
  const why = `${what} needs local disk, which a function does not have`;
  return noTask
    ? { where: "skip", reason: `${why}, and ${noTask}; run it as a plain process (\`ops run backup\`)` }
    : { where: "task", reason: why };
}

/**
 * The hand-off rules, in order (runbooks/backup/backup.md):
 * 1. a plain process has no deadline: it runs the dump itself (it is the task, or an operator's run);
 * 2. `runOn: fargate` goes to the task without estimating (the function need not reach the database);
 * 3. a dump that needs local disk (directory format) does not run in a function: the task, or `skip`;
 * 4. without an estimate yet, estimate first;
 * 5. an estimate within the budget runs here;
 * 6. over the budget: the task, or `skip` with the numbers when no task can take it.
 */
export function decidePlacement(input: PlacementInput): Placement {
  if (input.budgetMs === undefined) return { where: "here" };
  const budget = `the ${Math.round(input.budgetMs / 1000)} s budget`;
  if (input.runOn === "fargate") {
    return input.noTask
      ? { where: "skip", reason: `the catalogue runs this backup on Fargate, but ${input.noTask}` }
      : { where: "task", reason: "the catalogue runs this backup on Fargate (runOn: fargate)" };
  }
  if (input.needsDisk) return needsDisk(input.needsDisk, input.noTask);
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

/** The deployed backup task (`runbooks/fargate-handoff.ts`, shared with the restore drill). */
export type BackupTaskSettings = TaskSettings;

/** The task settings, or why there is no task to hand to. */
export const backupTaskSettings = taskSettings;

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
 * The backup's RunTask request: `ops run backup --system S database=D [force=true] [compression=N]` through
 * the one request builder ({@link taskRequest}) the restore drill uses too.
 */
export function backupTaskRequest(options: BackupTaskRequestOptions): RunTaskCommandInput {
  return taskRequest({
    runbook: "backup",
    system: options.system,
    database: options.database.id,
    input: [
      ...(options.force ? ["force=true"] : []),
      ...(options.compression !== undefined ? [`compression=${options.compression}`] : []),
    ],
    settings: options.settings,
    claim: options.claim,
    ...(options.runId ? { runId: options.runId } : {}),
  });
}
