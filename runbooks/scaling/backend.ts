import type { ScaleDownDecision, ScaleUpDecision } from "./decide.js";
import type { DeploymentActivity } from "./ecs.js";
import type { Capacity, MarkKeys } from "./tags.js";

/**
 * What off-hours scaling acts on, whatever runs it: an ECS service or a Kubernetes deployment. The rules
 * (`decide.ts`) see only this; a backend reads it from its platform and carries the decisions out there.
 */
export interface Workload {
  name: string;
  capacity: Capacity;
  /** ECS tags or Kubernetes annotations: the record, opt-out and keep-awake marks live here. */
  marks: ReadonlyMap<string, string>;
  deployment: DeploymentActivity;
  /** Size of one replica for the savings estimate (catalogue task size, or the pod's requests). */
  size?: { cpuUnits?: number | undefined; memoryMiB?: number | undefined };
}

/** A workload as found, or why it could not be read (reported failed, never skipped silently). */
export type WorkloadLookup = { ok: true; workload: Workload } | { ok: false; reason: string };

/** Which steps of a change completed, so a failure can say what state the workload is left in. */
export interface StepLog {
  done: string[];
}

/** The record step's name in a {@link StepLog} (TagResource on ECS, the annotation patch on Kubernetes). */
export type LowerDecision = Extract<ScaleDownDecision, { kind: "lower" }>;
/** A scale-up decision that changes something. */
export type RestoreDecision = Extract<ScaleUpDecision, { kind: "restore" }>;

/** One platform's way of reading and changing workloads; one per run. */
export interface WorkloadBackend {
  /** `service` or `deployment`, for reasons people read. */
  readonly noun: string;
  readonly marks: MarkKeys;
  /** What the autoscaler is called, for notes. */
  readonly autoscaler: "scalable target" | "HorizontalPodAutoscaler";
  /** Lowest min/max the autoscaler accepts (see `ScaleDownInput.autoscalerMin`). */
  readonly autoscalerMin: number;
  /** Name of the step that writes the record, as it appears in a {@link StepLog}. */
  readonly recordStep: string;
  /** Name of the step that clears the record. */
  readonly clearStep: string;
  /** The report's resource id of a workload. */
  resource(name: string): string;
  /** Reads the named workloads; none for workloads not reached before an abort. */
  load(names: readonly string[]): Promise<{ lookups: Map<string, WorkloadLookup>; aborted: boolean }>;
  /**
   * Reads one workload again after a write lost a race (HTTP 409). Absent where writes never conflict
   * (ECS has no optimistic concurrency on UpdateService).
   */
  reload?(name: string): Promise<WorkloadLookup>;
  /** Record first, then the autoscaler's bounds, then the count (see `apply.ts`). */
  lower(workload: Workload, decision: LowerDecision, log: StepLog): Promise<void>;
  /** Bounds, then the count, then the record is cleared. */
  restore(workload: Workload, decision: RestoreDecision, log: StepLog): Promise<void>;
  setKeepAwake(workload: Workload, until: Date): Promise<void>;
  clearKeepAwake(workload: Workload): Promise<void>;
}
