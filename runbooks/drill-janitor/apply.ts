import { errorMessage } from "../../lib/errors.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";

/** One removal the janitor decided on. */
export interface Removal {
  resource: string;
  action: "drop-scratch-database" | "drop-check-role" | "delete-drill-plan" | "delete-drill-claim";
  reason: string;
  /** Carries it out (never called in a dry run). */
  remove: () => Promise<unknown>;
}

/**
 * Removes one leftover, or in a dry run says it would: the one place the janitor's dry run differs.
 * A failure is that leftover's (reported failed), not the sweep's.
 */
export async function applyRemoval(
  ctx: Pick<RunbookContext, "dryRun">,
  report: ReportBuilder,
  removal: Removal,
): Promise<void> {
  const { resource, action, reason } = removal;
  if (ctx.dryRun) {
    report.add({ resource, action, status: "would-do", reason });
    return;
  }
  try {
    await removal.remove();
    report.add({ resource, action, status: "done", reason });
  } catch (error) {
    report.add({ resource, action, status: "failed", reason: errorMessage(error) });
  }
}
