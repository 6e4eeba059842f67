import type { Action, MetricPoint, Report, ReportStatus, RunbookContext } from "./types.js";

/**
 * Collects a run's actions and metrics and derives its status, so that every runbook reports the same
 * way: no failure → succeeded (skipped when nothing was done or planned); some failures → partial;
 * only failures → failed; an abort before the end → partial.
 */
export class ReportBuilder {
  readonly actions: Action[] = [];
  readonly metrics: Record<string, number> = {};
  details: Record<string, unknown> = {};
  readonly series: MetricPoint[] = [];
  private readonly startedAt: Date;
  private aborted = false;

  constructor(
    private readonly ctx: Pick<RunbookContext, "system" | "dryRun" | "now" | "logger">,
    private readonly runbook: string,
  ) {
    this.startedAt = ctx.now();
  }

  /** Records an action and logs it as a structured record. */
  add(action: Action): Action {
    this.actions.push(action);
    const level = action.status === "failed" ? "error" : "info";
    this.ctx.logger[level]("action", { runbook: this.runbook, system: this.ctx.system.id, ...action });
    return action;
  }

  /** `done` normally, `would-do` in a dry run: the status of an action that changes something. */
  get changeStatus(): "done" | "would-do" {
    return this.ctx.dryRun ? "would-do" : "done";
  }

  metric(name: string, value: number): void {
    this.metrics[name] = value;
  }

  /** Marks the run as stopped early (deadline, abort signal). */
  markAborted(reason: string): void {
    this.aborted = true;
    this.add({ resource: this.ctx.system.id, action: "stop", status: "skipped", reason });
  }

  get startTime(): Date {
    return this.startedAt;
  }

  /** Status derived from the actions (see the class comment). */
  deriveStatus(): ReportStatus {
    const failed = this.actions.filter((a) => a.status === "failed").length;
    const acted = this.actions.filter((a) => a.status === "done" || a.status === "would-do").length;
    if (failed > 0) return acted > 0 || this.aborted ? "partial" : "failed";
    if (this.aborted) return "partial";
    return acted > 0 ? "succeeded" : "skipped";
  }

  finish(options: { summary: string; status?: ReportStatus }): Report {
    const finishedAt = this.ctx.now();
    this.metrics.durationMs ??= finishedAt.getTime() - this.startedAt.getTime();
    return {
      runbook: this.runbook,
      system: this.ctx.system.id,
      dryRun: this.ctx.dryRun,
      status: options.status ?? this.deriveStatus(),
      startedAt: this.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      actions: this.actions,
      metrics: this.metrics,
      summary: options.summary,
      ...(Object.keys(this.details).length > 0 ? { details: this.details } : {}),
      ...(this.series.length > 0 ? { series: this.series } : {}),
    };
  }
}
