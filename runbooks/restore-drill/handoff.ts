import type { Database } from "../../systems/schema.js";
import type { HeldClaim } from "../exclusive.js";
import { handOffToTask, taskSettings } from "../fargate-handoff.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import type { DrillHandOff } from "./placement.js";

/** Options of {@link drillHandOff}. */
export interface DrillHandOffOptions {
  database: Database;
  /** The drill's claim, passed to the task (kept, not released, once it started). */
  claim: HeldClaim;
  /** This run's parsed input: what was given (besides `database`) the task repeats. */
  input: Record<string, unknown>;
}

/** `key=value` arguments for the inputs given; lists as `a,b` (the drill's input reads both forms). */
export function drillTaskInput(input: Record<string, unknown>): string[] {
  return Object.entries(input).flatMap(([key, value]) => {
    if (key === "database" || value === undefined) return [];
    return [`${key}=${Array.isArray(value) ? value.join(",") : String(value)}`];
  });
}

/**
 * How a pg_dump drill that would not fit its function goes to the Fargate task: `ops run restore-drill
 * --system S database=D …` with the drill's claim (runbooks/fargate-handoff.ts, the request builder the backup uses too), or why no task can take it.
 */
export function drillHandOff(ctx: RunbookContext, report: ReportBuilder, options: DrillHandOffOptions): DrillHandOff {
  const task = taskSettings(ctx.system, ctx.settings.task);
  if ("noTask" in task) {
    return {
      noTask: task.noTask,
      handOff: () => Promise.reject(new Error(`internal: handed off without a task (${task.noTask})`)),
    };
  }
  return {
    handOff: (reason) =>
      handOffToTask(ctx, report, {
        runbook: "restore-drill",
        system: ctx.system,
        database: options.database.id,
        input: drillTaskInput(options.input),
        settings: task.settings,
        claim: options.claim,
        reason,
        resource: `${ctx.system.id}/${options.database.id}`,
      }),
  };
}
