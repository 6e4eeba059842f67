import { RunbookError } from "../../lib/errors.js";

/**
 * One AWS call of a scaling step failed. It names the step (`TagResource`, `UpdateService`, ...) and the
 * service, so that the report can say exactly what was and was not changed; the SDK error is the `cause`.
 */
export class ScalingStepError extends RunbookError {
  readonly step: string;
  readonly service: string;
  /**
   * The write was refused because the resource changed since it was read (Kubernetes 409 on a stale
   * `resourceVersion`): the run reads it afresh and decides again instead of reporting a failure.
   */
  readonly conflict: boolean;

  constructor(options: { step: string; service: string; cause: unknown; conflict?: boolean }) {
    const detail = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`${options.step} failed for ${options.service}: ${detail}`, { cause: options.cause });
    this.step = options.step;
    this.service = options.service;
    this.conflict = options.conflict ?? false;
  }
}

/** True for a step that lost a write race (see {@link ScalingStepError.conflict}). */
export function isWriteConflict(error: unknown): boolean {
  return error instanceof ScalingStepError && error.conflict;
}

/**
 * A tag ops-autopilot wrote (or a person edited) that it cannot read. The service is left untouched: guessing
 * an original capacity is how workloads end up stuck at the floor.
 */
export class TagFormatError extends RunbookError {
  readonly tag: string;
  readonly value: string;

  constructor(options: { tag: string; value: string; problem: string; kind?: "tag" | "annotation"; cause?: unknown }) {
    super(
      `${options.kind ?? "tag"} ${options.tag}="${options.value}" is unreadable: ${options.problem}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.tag = options.tag;
    this.value = options.value;
  }
}
